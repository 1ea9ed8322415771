//! A `redis-server` child process for tests, on a free loopback port.

use std::{
    env,
    io::{Read, Write},
    net::{Ipv4Addr, TcpListener, TcpStream},
    path::PathBuf,
    process::{Child, Command, Stdio},
    thread,
    time::{Duration, Instant},
};

/// Set to `1` to make a missing `redis-server` an error instead of a skip.
pub const REQUIRE_REDIS_VAR: &str = "MCP_TEST_REQUIRE_REDIS";

/// Why a Redis server could not be started.
#[derive(Debug, thiserror::Error)]
pub enum RedisError {
    /// No `redis-server` on `PATH`, and `MCP_TEST_REQUIRE_REDIS=1`.
    #[error("redis-server not found on PATH and {REQUIRE_REDIS_VAR}=1")]
    Missing,
    /// The process could not be started or did not answer.
    #[error("redis-server failed: {0}")]
    Failed(String),
}

/// A running `redis-server`, listening on 127.0.0.1 only, with persistence
/// off. Killed when dropped.
#[derive(Debug)]
pub struct RedisServer {
    child: Child,
    port: u16,
    binary: PathBuf,
}

impl RedisServer {
    /// Starts a server. `Ok(None)` means the binary is missing and the test
    /// should return early; a SKIPPED line says so on stderr.
    pub fn start() -> Result<Option<Self>, RedisError> {
        let Some(binary) = find_binary("redis-server") else {
            if env::var(REQUIRE_REDIS_VAR).as_deref() == Ok("1") {
                return Err(RedisError::Missing);
            }
            eprintln!(
                "SKIPPED: redis-server not found on PATH \
                 (install it, or set {REQUIRE_REDIS_VAR}=1 to fail instead)"
            );
            return Ok(None);
        };
        // A freed port can be taken by someone else before redis binds it; retry.
        let mut last_error = String::new();
        for _ in 0..5 {
            match Self::spawn(&binary) {
                Ok(server) => return Ok(Some(server)),
                Err(error) => last_error = error,
            }
        }
        Err(RedisError::Failed(last_error))
    }

    fn spawn(binary: &PathBuf) -> Result<Self, String> {
        let port = free_port().map_err(|error| format!("no free port: {error}"))?;
        let child = Self::launch(binary, port)?;
        let mut server = Self {
            child,
            port,
            binary: binary.clone(),
        };
        server.wait_until_up()?;
        Ok(server)
    }

    fn launch(binary: &PathBuf, port: u16) -> Result<Child, String> {
        Command::new(binary)
            .args(["--bind", "127.0.0.1", "--port", &port.to_string()])
            .args([
                "--save",
                "",
                "--appendonly",
                "no",
                "--protected-mode",
                "yes",
                // Fault tests stall the server with DEBUG SLEEP.
                "--enable-debug-command",
                "local",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|error| format!("cannot start {}: {error}", binary.display()))
    }

    fn wait_until_up(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if self.ping() {
                return Ok(());
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!("exited early with {status}"));
            }
            if Instant::now() > deadline {
                return Err("did not answer PING within 10 s".into());
            }
            thread::sleep(Duration::from_millis(10));
        }
    }

    /// Kills the server (SIGKILL: no goodbye to its clients), keeping its
    /// port for [`restart`](Self::restart).
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Starts a new, empty server on the same port, after [`kill`](Self::kill).
    pub fn restart(&mut self) -> Result<(), RedisError> {
        self.kill();
        // The old socket may linger for a moment; try for a while.
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let started = Self::launch(&self.binary, self.port).and_then(|child| {
                self.child = child;
                self.wait_until_up()
            });
            match started {
                Ok(()) => return Ok(()),
                Err(error) if Instant::now() > deadline => return Err(RedisError::Failed(error)),
                Err(_) => thread::sleep(Duration::from_millis(50)),
            }
        }
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The URL to connect to, `redis://127.0.0.1:PORT/`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// Whether the server answers `PING` right now.
    pub fn ping(&self) -> bool {
        let attempt = || -> std::io::Result<bool> {
            let mut stream = TcpStream::connect((Ipv4Addr::LOCALHOST, self.port))?;
            stream.set_read_timeout(Some(Duration::from_secs(1)))?;
            stream.write_all(b"PING\r\n")?;
            let mut reply = [0; 7];
            stream.read_exact(&mut reply)?;
            Ok(&reply == b"+PONG\r\n")
        };
        attempt().unwrap_or(false)
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> std::io::Result<u16> {
    Ok(TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?
        .local_addr()?
        .port())
}

fn find_binary(name: &str) -> Option<PathBuf> {
    env::split_paths(&env::var_os("PATH")?)
        .map(|dir| dir.join(name))
        .find(|path| path.is_file())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn starts_answers_and_stops_on_drop() {
        let Some(server) = RedisServer::start().unwrap() else {
            return;
        };
        assert!(server.ping());
        assert!(server.url().starts_with("redis://127.0.0.1:"));
        let port = server.port();
        let mut server = server;
        server.kill();
        assert!(!server.ping(), "killed");
        server.restart().unwrap();
        assert!(server.ping(), "back on port {port}");
        drop(server);
        assert!(
            TcpStream::connect((Ipv4Addr::LOCALHOST, port)).is_err(),
            "the server is gone after drop"
        );
    }
}
