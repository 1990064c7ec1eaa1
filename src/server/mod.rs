//! The glommio server: one pinned shard per CPU, SO_REUSEPORT listeners, SPOP connections.
//! The only module that does I/O. (Being written: issue #2.)
