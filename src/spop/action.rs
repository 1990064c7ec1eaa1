//! ACK actions: SET-VAR and UNSET-VAR (SPOE.txt §3.4; contract §4.8).
//!
//! Owns [`VarScope`], the borrowed [`Action`], the [`Actions`] iterator over an ACK payload
//! (used by tests and by the load generator playing HAProxy) and the action encoders. It does not
//! know what the variables mean: the `adapter` module picks names and values.

use bytes::{BufMut, BytesMut};

use super::data::{put_str, Cursor, TypedData};
use super::error::DecodeError;

/// SET-VAR action type.
pub const SET_VAR: u8 = 1;
/// UNSET-VAR action type.
pub const UNSET_VAR: u8 = 2;

/// Variable scope (HAProxy builds `<scope>.<var-prefix>.<name>`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum VarScope {
    /// `proc.`
    Proc = 0,
    /// `sess.`
    Sess = 1,
    /// `txn.`
    Txn = 2,
    /// `req.`
    Req = 3,
    /// `res.`
    Res = 4,
}

impl VarScope {
    /// From the wire byte.
    pub fn from_code(c: u8) -> Option<Self> {
        Some(match c {
            0 => VarScope::Proc,
            1 => VarScope::Sess,
            2 => VarScope::Txn,
            3 => VarScope::Req,
            4 => VarScope::Res,
            _ => return None,
        })
    }
}

/// One decoded action.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action<'a> {
    /// Set `scope.<prefix>.name` to `value` (NULL unsets it).
    SetVar {
        /// Scope.
        scope: VarScope,
        /// Name without scope or prefix.
        name: &'a [u8],
        /// Value.
        value: TypedData<'a>,
    },
    /// Unset `scope.<prefix>.name`.
    UnsetVar {
        /// Scope.
        scope: VarScope,
        /// Name without scope or prefix.
        name: &'a [u8],
    },
}

/// Iterator over an ACK's list of actions. Yields `Err` once on malformed input, then stops.
#[derive(Debug, Clone)]
pub struct Actions<'a> {
    cur: Cursor<'a>,
    failed: bool,
}

impl<'a> Actions<'a> {
    /// Iterates over the actions in an ACK `payload` (empty payload: no action).
    pub fn new(payload: &'a [u8]) -> Self {
        Actions {
            cur: Cursor::new(payload),
            failed: false,
        }
    }

    fn next_action(&mut self) -> Result<Action<'a>, DecodeError> {
        let kind = self.cur.u8()?;
        let nb_args = self.cur.u8()?;
        match (kind, nb_args) {
            (SET_VAR, 3) => {
                let scope = VarScope::from_code(self.cur.u8()?).ok_or(DecodeError::BadAction)?;
                let name = self.cur.string()?;
                let value = self.cur.typed()?;
                Ok(Action::SetVar { scope, name, value })
            }
            (UNSET_VAR, 2) => {
                let scope = VarScope::from_code(self.cur.u8()?).ok_or(DecodeError::BadAction)?;
                let name = self.cur.string()?;
                Ok(Action::UnsetVar { scope, name })
            }
            (SET_VAR | UNSET_VAR, _) => Err(DecodeError::BadAction),
            (other, _) => Err(DecodeError::UnknownAction(other)),
        }
    }
}

impl<'a> Iterator for Actions<'a> {
    type Item = Result<Action<'a>, DecodeError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.cur.is_empty() {
            return None;
        }
        let r = self.next_action();
        self.failed = r.is_err();
        Some(r)
    }
}

/// Appends a SET-VAR action.
pub fn put_set_var(out: &mut BytesMut, scope: VarScope, name: &[u8], value: &TypedData<'_>) {
    out.put_slice(&[SET_VAR, 3, scope as u8]);
    put_str(out, name);
    value.encode(out);
}

/// Appends an UNSET-VAR action.
pub fn put_unset_var(out: &mut BytesMut, scope: VarScope, name: &[u8]) {
    out.put_slice(&[UNSET_VAR, 2, scope as u8]);
    put_str(out, name);
}

/// Appends any [`Action`].
pub fn put_action(out: &mut BytesMut, action: &Action<'_>) {
    match *action {
        Action::SetVar { scope, name, value } => put_set_var(out, scope, name, &value),
        Action::UnsetVar { scope, name } => put_unset_var(out, scope, name),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_and_unset_round_trip() {
        let mut b = BytesMut::new();
        put_set_var(&mut b, VarScope::Txn, b"code", &TypedData::Uint32(403));
        put_unset_var(&mut b, VarScope::Sess, b"x");
        assert_eq!(&b[..10], &[1, 3, 2, 4, b'c', b'o', b'd', b'e', 3, 0xf3][..]);
        let got: Vec<_> = Actions::new(&b).collect::<Result<_, _>>().unwrap();
        assert_eq!(
            got,
            vec![
                Action::SetVar {
                    scope: VarScope::Txn,
                    name: b"code",
                    value: TypedData::Uint32(403)
                },
                Action::UnsetVar {
                    scope: VarScope::Sess,
                    name: b"x"
                },
            ]
        );
    }

    #[test]
    fn bad_actions_are_errors() {
        assert_eq!(
            Actions::new(&[7, 0]).next(),
            Some(Err(DecodeError::UnknownAction(7)))
        );
        assert_eq!(
            Actions::new(&[1, 2, 2]).next(),
            Some(Err(DecodeError::BadAction))
        );
        assert_eq!(
            Actions::new(&[1, 3, 9, 0, 0]).next(),
            Some(Err(DecodeError::BadAction))
        );
        assert_eq!(
            Actions::new(&[1, 3, 2, 4, b'c']).next(),
            Some(Err(DecodeError::Truncated))
        );
    }
}
