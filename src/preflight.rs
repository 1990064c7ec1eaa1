//! Checks of the host made before any shard starts: today, whether the kernel lets this process
//! use io_uring.
//!
//! Owns the diagnosis of an io_uring refusal (seccomp filter, `kernel.io_uring_disabled`, a
//! kernel without io_uring) and the operator-facing message that names the cause and the fix.
//! glommio, asked for a ring it cannot get, panics in a shard thread with a message about old
//! kernels; probing here first turns that into one clear start-up error. Refuses to change
//! anything on the host: it only reads `/proc` and opens (then closes) one small ring.

use std::fmt;
use std::io;

/// Why io_uring is unusable, with what the host says about it.
#[derive(Debug)]
pub struct UringRefused {
    /// The system call that failed.
    pub call: &'static str,
    /// Its error.
    pub error: io::Error,
    /// `Seccomp:` of `/proc/self/status` (0 none, 1 strict, 2 filter); `None` if unreadable.
    pub seccomp: Option<u8>,
    /// `kernel.io_uring_disabled` (0 allowed, 1 only for `kernel.io_uring_group`, 2 disabled);
    /// `None` on kernels without the knob.
    pub disabled: Option<u8>,
}

impl UringRefused {
    /// The most likely cause, given the process's seccomp mode and the sysctl.
    fn cause(&self) -> Cause {
        let errno = self.error.raw_os_error();
        if self.disabled == Some(2) {
            Cause::Sysctl
        } else if self.seccomp == Some(2) {
            Cause::Seccomp
        } else if self.disabled == Some(1) && errno == Some(EPERM) {
            Cause::Sysctl
        } else if errno == Some(ENOSYS) {
            Cause::Kernel
        } else {
            Cause::Unknown
        }
    }
}

const EPERM: i32 = 1;
const ENOSYS: i32 = 38;

#[derive(Debug, PartialEq, Eq)]
enum Cause {
    Seccomp,
    Sysctl,
    Kernel,
    Unknown,
}

impl fmt::Display for UringRefused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "io_uring is unavailable: {} failed ({})",
            self.call, self.error
        )?;
        match self.cause() {
            Cause::Seccomp => write!(
                f,
                ". Cause: a seccomp filter on this process refuses the io_uring system calls \
                 (Docker >= 25 and containerd >= 2.0 block io_uring_setup, io_uring_enter and \
                 io_uring_register in their default profile). Fix: run under a profile that is \
                 the runtime's default plus those three calls, never Unconfined: in Kubernetes \
                 the Localhost profile deploy/kubernetes/seccomp/spoa-waf.json placed under \
                 /var/lib/kubelet/seccomp/ (securityContext.seccompProfile: {{type: Localhost, \
                 localhostProfile: spoa-waf.json}}); with Docker or Podman \
                 `--security-opt seccomp=deploy/kubernetes/seccomp/spoa-waf.json`; under \
                 systemd a SystemCallFilter= that includes @system-service (systemd >= 252) or @aio"
            ),
            Cause::Sysctl => write!(
                f,
                ". Cause: the sysctl kernel.io_uring_disabled is {} (1: only members of \
                 kernel.io_uring_group may use io_uring; 2: nobody may). Fix: \
                 `sysctl -w kernel.io_uring_disabled=0` (persist it in /etc/sysctl.d/), or add \
                 the agent's group to kernel.io_uring_group",
                self.disabled.unwrap_or(0)
            ),
            Cause::Kernel => write!(
                f,
                ". Cause: this kernel has no io_uring (built without CONFIG_IO_URING, or older \
                 than 5.8). Fix: run on Linux >= 5.8 with io_uring enabled"
            ),
            Cause::Unknown => write!(
                f,
                ". Check, in this order: a seccomp filter (container runtime profile, \
                 SystemCallFilter=) that blocks io_uring_setup/io_uring_enter/io_uring_register, \
                 the sysctl kernel.io_uring_disabled (must be 0), and the kernel (>= 5.8)"
            ),
        }
    }
}

impl std::error::Error for UringRefused {}

fn proc_status_field(name: &str) -> Option<u8> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(name)?.trim().parse().ok())
}

fn sysctl_io_uring_disabled() -> Option<u8> {
    std::fs::read_to_string("/proc/sys/kernel/io_uring_disabled")
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// Opens a two-entry ring and asks for its opcode probe (`IORING_REGISTER_PROBE`, which glommio
/// needs before it starts): the two calls a shard makes first.
///
/// # Errors
/// [`UringRefused`] naming the call that failed, the likely cause and the fix.
pub fn io_uring() -> Result<(), UringRefused> {
    let refused = |call, error| UringRefused {
        call,
        error,
        seccomp: proc_status_field("Seccomp:"),
        disabled: sysctl_io_uring_disabled(),
    };
    let ring = io_uring::IoUring::new(2).map_err(|e| refused("io_uring_setup", e))?;
    let mut probe = io_uring::Probe::new();
    ring.submitter()
        .register_probe(&mut probe)
        .map_err(|e| refused("io_uring_register", e))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refusal(errno: i32, seccomp: Option<u8>, disabled: Option<u8>) -> UringRefused {
        UringRefused {
            call: "io_uring_setup",
            error: io::Error::from_raw_os_error(errno),
            seccomp,
            disabled,
        }
    }

    #[test]
    fn this_host_allows_io_uring() {
        // The test machines run the agent's own tests over io_uring; the probe must agree.
        io_uring().unwrap();
    }

    #[test]
    fn the_cause_follows_seccomp_and_the_sysctl() {
        assert_eq!(refusal(EPERM, Some(2), Some(0)).cause(), Cause::Seccomp);
        assert_eq!(refusal(ENOSYS, Some(2), None).cause(), Cause::Seccomp);
        assert_eq!(refusal(EPERM, Some(0), Some(2)).cause(), Cause::Sysctl);
        assert_eq!(refusal(EPERM, Some(0), Some(1)).cause(), Cause::Sysctl);
        assert_eq!(refusal(ENOSYS, Some(0), None).cause(), Cause::Kernel);
        assert_eq!(refusal(EPERM, Some(0), Some(0)).cause(), Cause::Unknown);
        let m = refusal(EPERM, Some(2), Some(0)).to_string();
        assert!(
            m.contains("io_uring_setup failed") && m.contains("seccomp"),
            "{m}"
        );
        assert!(
            m.contains("Localhost") && m.contains("never Unconfined"),
            "{m}"
        );
    }
}
