//! The FastCGI ceiling for `benches/load.sh`: a bare `tokio-fastcgi`
//! responder that answers every request with the same fixed bytes, used
//! exactly as the crate's documentation shows (accept, `from_split_socket`,
//! `next`, `process`), on a current-thread runtime and a unix socket like
//! the daemon. Not part of the release binary.
//!
//! ```text
//! cargo run --release --example bare_fastcgi -- SOCKET BODY_FILE ['Name: value'...]
//! ```
//!
//! The answer is `Status: 200 OK`, the given headers, a blank line and the
//! bytes of BODY_FILE.

use std::sync::Arc;

use tokio::net::UnixListener;
use tokio_fastcgi::{RequestResult, Requests};

fn main() -> std::process::ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [socket, body_file, headers @ ..] = args.as_slice() else {
        eprintln!("usage: bare_fastcgi SOCKET BODY_FILE ['Name: value'...]");
        return std::process::ExitCode::from(2);
    };
    let body = match std::fs::read(body_file) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("bare_fastcgi: cannot read {body_file}: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    let mut answer = b"Status: 200 OK\r\n".to_vec();
    for h in headers {
        answer.extend_from_slice(h.as_bytes());
        answer.extend_from_slice(b"\r\n");
    }
    answer.extend_from_slice(b"\r\n");
    answer.extend_from_slice(&body);
    let answer: Arc<[u8]> = answer.into();

    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("bare_fastcgi: cannot start the runtime: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    let _ = std::fs::remove_file(socket);
    match runtime.block_on(serve(socket, answer)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bare_fastcgi: {e}");
            std::process::ExitCode::from(1)
        }
    }
}

async fn serve(socket: &str, answer: Arc<[u8]>) -> std::io::Result<()> {
    let listener = UnixListener::bind(socket)?;
    loop {
        let (mut stream, _) = listener.accept().await?;
        let answer = answer.clone();
        tokio::spawn(async move {
            let mut requests = Requests::from_split_socket(stream.split(), 10, 10);
            while let Ok(Some(request)) = requests.next().await {
                let answer = answer.clone();
                let result = request
                    .process(|request| async move {
                        if request.get_stdout().write(&answer).await.is_err() {
                            return RequestResult::Complete(1);
                        }
                        RequestResult::Complete(0)
                    })
                    .await;
                if let Err(e) = result {
                    eprintln!("bare_fastcgi: processing a request failed: {e}");
                }
            }
        });
    }
}
