/*!
Telling people outside the server room: a webhook and/or a mail through an SMTP relay, once when
the appliance starts failing and once when it recovers — never once per hour while a failure
lasts (the decision is in `step`; this only delivers). Off unless configured.

Secrets stay off every command line (DESIGN.md §4.6, issue 12):
- The webhook is POSTed by `curl -q -K -`: its whole configuration, the URL (often a bot token)
  and the JSON body included, arrives on its standard input in curl's config-file syntax; its argv
  is those three words, and `-q` keeps a `~/.curlrc` out. `max-time = 20` bounds it.
- Mail goes through `lettre` (SMTP): STARTTLS required by default (`smtp_tls`), AUTH with the
  login from the 0600 `smtp_credentials` file, the relay's certificate checked against the
  system's CA store or only `smtp_ca_file`. Nothing runs as another process.
*/

use std::fmt;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use lettre::message::header::ContentType;
use lettre::message::Mailbox;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, CertificateStore, Tls, TlsParameters};
use lettre::transport::smtp::extension::ClientId;
use lettre::{Message, SmtpTransport, Transport};

use crate::config::{NotifyConfig, SmtpCredentials, SmtpTls};

/// The webhook's bound, in seconds (curl's `max-time`).
pub const WEBHOOK_MAX_TIME: u64 = 20;

/// How long the relay may leave a mail's SMTP dialogue without an answer.
const SMTP_TIMEOUT: Duration = Duration::from_secs(30);

/// Why an alert did not reach one channel. Each message says what to check; none holds the
/// webhook's path (its token) or the relay's password.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AlertError {
    /// `curl` is not installed.
    CurlMissing { detail: String },
    /// `curl` ran and the POST failed (curl's own message; `endpoint` is scheme and host only).
    Webhook { endpoint: String, detail: String },
    /// `smtp_credentials` cannot be read or is not a valid login file.
    Credentials { path: PathBuf, detail: String },
    /// `smtp_ca_file` cannot be read or holds no usable certificate.
    CaFile { path: PathBuf, detail: String },
    /// The TLS handshake with the relay failed (its certificate is not trusted, or the name does
    /// not match, or the relay speaks no TLS on that port).
    Tls { relay: String, detail: String },
    /// The relay refused the login (SMTP 530/534/535).
    LoginRefused { relay: String, code: u16 },
    /// The relay refused the mail (sender, recipient or message), with its SMTP code.
    Refused {
        relay: String,
        code: u16,
        detail: String,
    },
    /// The dialogue could not go on on our side: e.g. STARTTLS required but not offered, or no
    /// login mechanism both sides know.
    Client { relay: String, detail: String },
    /// The relay could not be reached or stopped answering.
    Unreachable { relay: String, detail: String },
    /// The mail could not be built (an address lettre does not accept).
    Message { detail: String },
}

impl fmt::Display for AlertError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AlertError::CurlMissing { detail } => write!(
                f,
                "cannot run curl ({detail}): install it with `apt-get install curl`"
            ),
            AlertError::Webhook { endpoint, detail } => write!(
                f,
                "webhook {endpoint}/…: {detail} (check [notify] webhook and that the appliance can reach it)"
            ),
            AlertError::Credentials { path, detail } => write!(
                f,
                "SMTP credentials {}: {detail} (a 0600 TOML file with username = \"…\" and password = \"…\")",
                path.display()
            ),
            AlertError::CaFile { path, detail } => write!(
                f,
                "smtp_ca_file {}: {detail} (a PEM file with the relay's CA certificate)",
                path.display()
            ),
            AlertError::Tls { relay, detail } => write!(
                f,
                "mail via {relay}: TLS failed: {detail} (is the relay's certificate signed by a trusted CA, or by smtp_ca_file, for this host name? is smtp_tls right for this port?)"
            ),
            AlertError::LoginRefused { relay, code } => write!(
                f,
                "mail via {relay}: the relay refused the login ({code}): check username and password in smtp_credentials"
            ),
            AlertError::Refused { relay, code, detail } => write!(
                f,
                "mail via {relay}: the relay refused the mail ({code} {detail}): check mail_from and mail_to"
            ),
            AlertError::Client { relay, detail } => write!(
                f,
                "mail via {relay}: {detail} (with smtp_tls = \"starttls\", the default, the relay must offer STARTTLS: use its submission port, usually 587, or smtp_tls = \"opportunistic\" for a LAN relay without a login)"
            ),
            AlertError::Unreachable { relay, detail } => write!(
                f,
                "mail via {relay}: the relay cannot be reached: {detail} (check smtp_relay and the network)"
            ),
            AlertError::Message { detail } => write!(f, "the alert mail cannot be built: {detail}"),
        }
    }
}

impl std::error::Error for AlertError {}

/// Delivers one message to every configured channel; returns the problems, if any.
pub fn deliver(cfg: &NotifyConfig, recovered: bool, text: &str) -> Vec<AlertError> {
    let host = crate::clock::hostname().unwrap_or_else(|| "simdondar-backup".into());
    let mut problems = Vec::new();
    if let Some(url) = &cfg.webhook {
        if let Err(e) = webhook(url, &host, recovered, text) {
            problems.push(e);
        }
    }
    if cfg.smtp_relay.is_some() {
        let subject = if recovered {
            format!("[{host}] SIMDONDAR backup recovered")
        } else {
            format!("[{host}] SIMDONDAR backup FAILING")
        };
        if let Err(e) = mail(cfg, &host, &subject, text) {
            problems.push(e);
        }
    }
    problems
}

/// `scheme://host[:port]` of a URL: what may be shown of a webhook (its path is the secret).
pub fn endpoint(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    // A user:password@ part is a secret too.
    let host = authority.rsplit('@').next().unwrap_or(authority);
    format!("{scheme}://{host}")
}

/// A value in curl's config-file syntax: double-quoted, with `\\`, `\"`, `\t`, `\n`, `\r` and
/// `\v` escaped (curl(1), "-K, --config").
pub fn curl_quote(v: &str) -> String {
    let mut out = String::with_capacity(v.len() + 2);
    out.push('"');
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\u{0b}' => out.push_str("\\v"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// curl's whole configuration for one webhook POST (given on its standard input).
pub fn webhook_config(url: &str, body: &str) -> String {
    format!(
        "url = {}\n\
         request = \"POST\"\n\
         header = \"Content-Type: application/json\"\n\
         data-binary = {}\n\
         proto = \"=http,https\"\n\
         max-time = {WEBHOOK_MAX_TIME}\n\
         connect-timeout = 10\n\
         output = \"/dev/null\"\n\
         fail\n\
         silent\n\
         show-error\n",
        curl_quote(url),
        curl_quote(body)
    )
}

fn webhook(url: &str, host: &str, recovered: bool, text: &str) -> Result<(), AlertError> {
    let body =
        serde_json::json!({ "host": host, "recovered": recovered, "text": text }).to_string();
    let failed = |detail: String| AlertError::Webhook {
        endpoint: endpoint(url),
        detail,
    };
    // -q first: no ~/.curlrc; -K -: everything else from stdin.
    let mut child = Command::new("curl")
        .args(["-q", "-K", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| AlertError::CurlMissing {
            detail: e.to_string(),
        })?;
    let config = webhook_config(url, &body);
    let written = match child.stdin.take() {
        // Dropping stdin closes it: curl reads its config to the end before it starts.
        Some(mut i) => i.write_all(config.as_bytes()),
        None => Ok(()),
    };
    let mut stderr = String::new();
    if let Some(mut e) = child.stderr.take() {
        let _ = e.read_to_string(&mut stderr);
    }
    let status = child.wait().map_err(|e| failed(e.to_string()))?;
    if let Err(e) = written {
        return Err(failed(format!("cannot give curl its configuration: {e}")));
    }
    if status.success() {
        Ok(())
    } else {
        let detail = stderr.trim();
        Err(failed(if detail.is_empty() {
            format!("curl failed ({status})")
        } else {
            detail.to_string()
        }))
    }
}

/// Reads what a mail needs besides the message: checked by `config check` before any alert.
pub fn check_mail_settings(cfg: &NotifyConfig) -> Result<(), AlertError> {
    if let Some(p) = &cfg.smtp_credentials {
        load_credentials(p)?;
    }
    if cfg.smtp_relay.is_some() {
        tls_parameters(cfg, "localhost")?;
    }
    Ok(())
}

fn load_credentials(path: &Path) -> Result<SmtpCredentials, AlertError> {
    SmtpCredentials::load(path).map_err(|detail| AlertError::Credentials {
        path: path.to_path_buf(),
        detail,
    })
}

fn tls_parameters(cfg: &NotifyConfig, host: &str) -> Result<TlsParameters, AlertError> {
    let mut b = TlsParameters::builder(host.to_string());
    if let Some(ca) = &cfg.smtp_ca_file {
        let ca_err = |detail: String| AlertError::CaFile {
            path: ca.clone(),
            detail,
        };
        let pem = std::fs::read(ca).map_err(|e| ca_err(e.to_string()))?;
        let cert = Certificate::from_pem(&pem).map_err(|e| ca_err(e.to_string()))?;
        // A private relay: its CA, and no other, vouches for it.
        b = b
            .certificate_store(CertificateStore::None)
            .add_root_certificate(cert);
    }
    b.build_rustls().map_err(|e| AlertError::Tls {
        relay: host.to_string(),
        detail: e.to_string(),
    })
}

/// Whether a TLS error (a `rustls::Error`, e.g. an untrusted certificate) is behind `e`: lettre
/// reports a failed handshake as an I/O error that carries it.
fn tls_failure(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cur {
        if err.is::<rustls::Error>() {
            return true;
        }
        if let Some(inner) = err
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
        {
            if inner.is::<rustls::Error>() {
                return true;
            }
        }
        cur = err.source();
    }
    false
}

/// Names an SMTP failure by its kind and code.
fn classify(relay: &str, e: lettre::transport::smtp::Error) -> AlertError {
    let relay = relay.to_string();
    if let Some(code) = e.status().map(u16::from) {
        if matches!(code, 530 | 534 | 535) {
            return AlertError::LoginRefused { relay, code };
        }
        return AlertError::Refused {
            relay,
            code,
            detail: e.to_string(),
        };
    }
    if e.is_tls() || tls_failure(&e) {
        AlertError::Tls {
            relay,
            detail: e.to_string(),
        }
    } else if e.is_client() {
        AlertError::Client {
            relay,
            detail: e.to_string(),
        }
    } else {
        AlertError::Unreachable {
            relay,
            detail: e.to_string(),
        }
    }
}

/// Sends a plain-text mail through the configured relay (`smtp_relay` must be set).
pub fn mail(cfg: &NotifyConfig, hello: &str, subject: &str, text: &str) -> Result<(), AlertError> {
    let Some(relay) = &cfg.smtp_relay else {
        return Ok(());
    };
    let (host, port) = match relay.rsplit_once(':').map(|(h, p)| (h, p.parse::<u16>())) {
        Some((h, Ok(p))) => (h.trim_start_matches('[').trim_end_matches(']'), p),
        _ => {
            return Err(AlertError::Unreachable {
                relay: relay.clone(),
                detail: "smtp_relay is not host:port".into(),
            })
        }
    };
    let bad = |e: &dyn fmt::Display| AlertError::Message {
        detail: e.to_string(),
    };
    let from: Mailbox = cfg
        .mail_from
        .as_deref()
        .unwrap_or("simdondar-backup@localhost")
        .parse()
        .map_err(|e| bad(&e))?;
    let mut b = Message::builder()
        .from(from)
        .subject(subject)
        .header(ContentType::TEXT_PLAIN);
    for t in &cfg.mail_to {
        b = b.to(t.parse::<Mailbox>().map_err(|e| bad(&e))?);
    }
    let message = b.body(text.to_string()).map_err(|e| bad(&e))?;

    let params = tls_parameters(cfg, host)?;
    let tls = match cfg.smtp_tls {
        SmtpTls::StartTls => Tls::Required(params),
        SmtpTls::Tls => Tls::Wrapper(params),
        SmtpTls::Opportunistic => Tls::Opportunistic(params),
    };
    let mut t = SmtpTransport::builder_dangerous(host)
        .port(port)
        .tls(tls)
        .timeout(Some(SMTP_TIMEOUT))
        .hello_name(ClientId::Domain(hello.to_string()));
    if let Some(p) = &cfg.smtp_credentials {
        let c = load_credentials(p)?;
        t = t.credentials(Credentials::new(c.username, c.password));
    }
    t.build()
        .send(&message)
        .map(|_| ())
        .map_err(|e| classify(relay, e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{BufRead, BufReader};
    use std::net::TcpListener;

    /// One HTTP request on a loopback port, answered with `status`: (request line, body).
    fn one_request(status: &'static str) -> (u16, std::thread::JoinHandle<(String, String)>) {
        let l = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = l.local_addr().expect("addr").port();
        let h = std::thread::spawn(move || {
            let (s, _) = l.accept().expect("accept");
            let mut w = s.try_clone().expect("clone");
            let mut r = BufReader::new(s);
            let mut request = String::new();
            r.read_line(&mut request).expect("request line");
            let mut length = 0usize;
            loop {
                let mut line = String::new();
                r.read_line(&mut line).expect("header");
                if line == "\r\n" || line.is_empty() {
                    break;
                }
                if let Some((k, v)) = line.split_once(':') {
                    if k.eq_ignore_ascii_case("content-length") {
                        length = v.trim().parse().expect("length");
                    }
                }
            }
            let mut body = vec![0u8; length];
            r.read_exact(&mut body).expect("body");
            w.write_all(
                format!("HTTP/1.1 {status}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                    .as_bytes(),
            )
            .expect("answer");
            (
                request.trim().to_string(),
                String::from_utf8(body).expect("utf-8"),
            )
        });
        (port, h)
    }

    /// The real curl, configured on its stdin, POSTs the body intact to the URL's path.
    #[test]
    fn the_webhook_reaches_a_listener_through_curl() {
        let (port, h) = one_request("200 OK");
        let text = "gagal: \"pmi\" \\ baris\nkedua\ttab";
        webhook(
            &format!("http://127.0.0.1:{port}/bot123:RAHASIA/sendMessage"),
            "utd-x",
            false,
            text,
        )
        .expect("delivered");
        let (request, body) = h.join().expect("listener");
        assert_eq!(request, "POST /bot123:RAHASIA/sendMessage HTTP/1.1");
        let v: serde_json::Value = serde_json::from_str(&body).expect("JSON body");
        assert_eq!(v["text"], text);
        assert_eq!(v["host"], "utd-x");
        assert_eq!(v["recovered"], false);
    }

    /// A refused POST is reported with the endpoint, never the token in the path.
    #[test]
    fn a_failed_webhook_names_the_endpoint_not_the_token() {
        let (port, h) = one_request("500 Internal Server Error");
        let e = webhook(
            &format!("http://127.0.0.1:{port}/bot123:RAHASIA/sendMessage"),
            "utd-x",
            true,
            "pulih",
        )
        .expect_err("a 500 fails");
        let _ = h.join();
        let shown = e.to_string();
        assert!(matches!(e, AlertError::Webhook { .. }), "{e:?}");
        assert!(
            shown.contains(&format!("http://127.0.0.1:{port}/…")),
            "{shown}"
        );
        assert!(shown.contains("500"), "{shown}");
        assert!(!shown.contains("RAHASIA"), "{shown}");
    }

    #[test]
    fn the_endpoint_shows_no_path_and_no_login() {
        assert_eq!(
            endpoint("https://api.telegram.org/bot123:ABC/sendMessage"),
            "https://api.telegram.org"
        );
        assert_eq!(
            endpoint("http://u:p@127.0.0.1:8080/hook?k=v"),
            "http://127.0.0.1:8080"
        );
    }

    #[test]
    fn curl_config_values_are_quoted() {
        assert_eq!(curl_quote(r#"a"b\c"#), r#""a\"b\\c""#);
        assert_eq!(curl_quote("x\ny\tz\r\u{0b}"), r#""x\ny\tz\r\v""#);
        let body = serde_json::json!({ "text": "gagal: \"pmi\" \\ baris\nkedua" }).to_string();
        let cfg = webhook_config("https://h/bot1:X/send", &body);
        assert!(
            cfg.starts_with("url = \"https://h/bot1:X/send\"\n"),
            "{cfg}"
        );
        assert!(
            cfg.contains(r#"data-binary = "{\"text\":\"gagal: \\\"pmi\\\" \\\\ baris\\nkedua\"}""#),
            "{cfg}"
        );
        assert!(cfg.contains("max-time = 20\n"), "{cfg}");
    }
}
