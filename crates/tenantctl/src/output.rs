//! Standard output that a reader going away cannot crash: `tenantctl status x | head -2`
//! closes the pipe early, and `println!` would panic on the broken pipe. Once stdout
//! cannot be written, later lines are dropped and the command still ends with its own
//! exit code (the outcome does not depend on who read it).

use std::fmt::Arguments;
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};

static CLOSED: AtomicBool = AtomicBool::new(false);

/// Writes one line to `out` unless `closed`; a failed write sets `closed` (for a broken
/// pipe, or any other reason stdout cannot take it).
pub fn write_line(out: &mut impl Write, closed: &AtomicBool, args: Arguments) {
    if closed.load(Ordering::Relaxed) {
        return;
    }
    if out.write_fmt(args).and_then(|()| out.write_all(b"\n")).is_err() {
        closed.store(true, Ordering::Relaxed);
    }
}

/// One line on stdout (what `outln!` calls).
pub fn line(args: Arguments) {
    write_line(&mut std::io::stdout().lock(), &CLOSED, args);
}

/// `println!` that never panics on a closed stdout.
#[macro_export]
macro_rules! outln {
    () => {
        $crate::output::line(format_args!(""))
    };
    ($($arg:tt)*) => {
        $crate::output::line(format_args!($($arg)*))
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Takes `room` bytes, then answers every write with a broken pipe.
    struct Pipe {
        taken: Vec<u8>,
        room: usize,
        writes_after_close: usize,
    }

    impl Write for Pipe {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            if self.taken.len() >= self.room {
                self.writes_after_close += 1;
                return Err(std::io::ErrorKind::BrokenPipe.into());
            }
            let n = buf.len().min(self.room - self.taken.len());
            self.taken.extend_from_slice(&buf[..n]);
            Ok(n)
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_closed_pipe_stops_the_output_without_a_panic() {
        let closed = AtomicBool::new(false);
        let mut pipe = Pipe {
            taken: vec![],
            room: 6,
            writes_after_close: 0,
        };
        write_line(&mut pipe, &closed, format_args!("one"));
        assert!(!closed.load(Ordering::Relaxed));
        write_line(&mut pipe, &closed, format_args!("two {}", 2));
        assert!(closed.load(Ordering::Relaxed));
        write_line(&mut pipe, &closed, format_args!("three"));
        assert_eq!(pipe.taken, b"one\ntw");
        assert_eq!(pipe.writes_after_close, 1, "nothing is written once the pipe is closed");
    }
}
