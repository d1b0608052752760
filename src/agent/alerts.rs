/*!
Telling people outside the server room: a webhook (POSTed with `curl`) and/or a mail through an
SMTP relay, once when the appliance starts failing and once when it recovers — never once per
hour while a failure lasts (the decision is in `step`; this only delivers). Off unless configured.
*/

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::config::NotifyConfig;

/// Delivers one message to every configured channel; returns the problems, if any.
pub fn deliver(cfg: &NotifyConfig, recovered: bool, text: &str) -> Vec<String> {
    let host = crate::clock::hostname().unwrap_or_else(|| "simdondar-backup".into());
    let mut problems = Vec::new();
    if let Some(url) = &cfg.webhook {
        if let Err(e) = webhook(url, &host, recovered, text) {
            problems.push(format!("webhook {url}: {e}"));
        }
    }
    if let (Some(relay), Some(from)) = (&cfg.smtp_relay, &cfg.mail_from) {
        let subject = if recovered {
            format!("[{host}] SIMDONDAR backup recovered")
        } else {
            format!("[{host}] SIMDONDAR backup FAILING")
        };
        if let Err(e) = mail(relay, from, &cfg.mail_to, &subject, text) {
            problems.push(format!("mail via {relay}: {e}"));
        }
    }
    problems
}

fn webhook(url: &str, host: &str, recovered: bool, text: &str) -> Result<(), String> {
    let body =
        serde_json::json!({ "host": host, "recovered": recovered, "text": text }).to_string();
    let mut child = Command::new("curl")
        .args([
            "-fsS",
            "-m",
            "20",
            "-H",
            "Content-Type: application/json",
            "--data-binary",
            "@-",
            url,
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run curl ({e}); install it with `apt-get install curl`"))?;
    if let Some(mut i) = child.stdin.take() {
        let _ = i.write_all(body.as_bytes());
    }
    let out = child.wait_with_output().map_err(|e| e.to_string())?;
    if out.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).trim().to_string())
    }
}

fn expect(r: &mut impl BufRead, code: &str) -> Result<(), String> {
    loop {
        let mut line = String::new();
        r.read_line(&mut line).map_err(|e| e.to_string())?;
        if line.is_empty() {
            return Err("the relay closed the connection".into());
        }
        if !line.starts_with(code) {
            return Err(format!("the relay said: {}", line.trim()));
        }
        // "250-…" continues, "250 …" ends.
        if line.as_bytes().get(3) != Some(&b'-') {
            return Ok(());
        }
    }
}

/// Sends a plain-text mail through an SMTP relay without authentication.
pub fn mail(
    relay: &str,
    from: &str,
    to: &[String],
    subject: &str,
    text: &str,
) -> Result<(), String> {
    let s = TcpStream::connect(relay).map_err(|e| e.to_string())?;
    s.set_read_timeout(Some(Duration::from_secs(30)))
        .map_err(|e| e.to_string())?;
    let mut w = s.try_clone().map_err(|e| e.to_string())?;
    let mut r = BufReader::new(s);
    let mut say = |line: &str, r: &mut BufReader<TcpStream>, code: &str| -> Result<(), String> {
        w.write_all(format!("{line}\r\n").as_bytes())
            .map_err(|e| e.to_string())?;
        expect(r, code)
    };
    expect(&mut r, "220")?;
    say("EHLO simdondar-backup", &mut r, "250")?;
    say(&format!("MAIL FROM:<{from}>"), &mut r, "250")?;
    for t in to {
        say(&format!("RCPT TO:<{t}>"), &mut r, "250")?;
    }
    say("DATA", &mut r, "354")?;
    let body: String = text
        .lines()
        .map(|l| {
            if l.starts_with('.') {
                format!(".{l}\r\n")
            } else {
                format!("{l}\r\n")
            }
        })
        .collect();
    let msg = format!(
        "From: <{from}>\r\nTo: {}\r\nSubject: {subject}\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{body}.",
        to.iter().map(|t| format!("<{t}>")).collect::<Vec<_>>().join(", ")
    );
    say(&msg, &mut r, "250")?;
    let _ = say("QUIT", &mut r, "221");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    #[test]
    fn mail_through_a_relay() {
        let l = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = l.local_addr().expect("addr").to_string();
        let server = std::thread::spawn(move || {
            let (s, _) = l.accept().expect("accept");
            let mut w = s.try_clone().expect("clone");
            let mut r = BufReader::new(s);
            let mut got = String::new();
            w.write_all(b"220 relay ready\r\n").expect("w");
            let mut in_data = false;
            loop {
                let mut line = String::new();
                if r.read_line(&mut line).unwrap_or(0) == 0 {
                    break;
                }
                got.push_str(&line);
                if in_data {
                    if line == ".\r\n" {
                        in_data = false;
                        w.write_all(b"250 queued\r\n").expect("w");
                    }
                    continue;
                }
                let reply: &[u8] = if line.starts_with("EHLO") {
                    b"250-relay\r\n250 OK\r\n"
                } else if line.starts_with("DATA") {
                    in_data = true;
                    b"354 go\r\n"
                } else if line.starts_with("QUIT") {
                    w.write_all(b"221 bye\r\n").expect("w");
                    break;
                } else {
                    b"250 OK\r\n"
                };
                w.write_all(reply).expect("w");
            }
            got
        });
        mail(
            &addr,
            "pmi@utd.local",
            &["it@utd.local".into()],
            "subject",
            "line one\n.dot line",
        )
        .expect("mail");
        let got = server.join().expect("server");
        assert!(got.contains("RCPT TO:<it@utd.local>"), "{got}");
        assert!(got.contains("Subject: subject"), "{got}");
        assert!(got.contains("\r\n..dot line\r\n"), "dot-stuffing: {got}");
    }

    #[test]
    fn a_refusing_relay_is_reported() {
        let l = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = l.local_addr().expect("addr").to_string();
        std::thread::spawn(move || {
            let (mut s, _) = l.accept().expect("accept");
            let _ = s.write_all(b"554 go away\r\n");
        });
        let e = mail(&addr, "a@b", &["c@d".into()], "s", "t").expect_err("refused");
        assert!(e.contains("554"), "{e}");
    }
}
