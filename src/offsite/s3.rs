/*!
The S3 client of the off-site stores: requests signed by `rusty-s3` (presigned, path-style) and
sent by `ureq` on the calling thread, every wait bounded (connect, each read and each write by
`stall_timeout`), the upload rate limited, and every failure turned into an [`OffsiteFailure`]
with a sentence a person can act on. A 403 from a store whose `Date` is far from ours is a clock
problem, not a key problem: the Raspberry Pi has no battery clock before NTP.
*/

use std::io::Read;
use std::time::Duration;

use base64::Engine;
use rusty_s3::actions::{
    AbortMultipartUpload, CompleteMultipartUpload, CreateMultipartUpload, ListParts, UploadPart,
};
use rusty_s3::{Bucket, Credentials, S3Action, UrlStyle};

use crate::config::{OffsiteConfig, S3Credentials};
use crate::kinds::{OffsiteError, OffsiteFailure};

/// How long a presigned request stays valid.
const SIGNED_FOR: Duration = Duration::from_secs(3600);
/// A clock farther than this from the store's is named as the cause of a refusal.
const SKEW_LIMIT_SECS: i64 = 10 * 60;
/// At most this many pages of `ListParts` (1000 parts each).
const MAX_LIST_PAGES: usize = 11;
/// The largest error or listing body read into memory.
const MAX_SMALL_BODY: u64 = 4 << 20;

/// One S3-compatible store, ready to send requests.
pub struct Store {
    name: String,
    endpoint: String,
    bucket: Bucket,
    creds: Credentials,
    agent: ureq::Agent,
    stall: Duration,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("name", &self.name)
            .field("endpoint", &self.endpoint)
            .finish()
    }
}

/// What the store said about one part of a multipart upload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedPart {
    pub number: u32,
    pub etag: String,
    pub size: u64,
}

/// An object's size and ETag (HEAD).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectInfo {
    pub size: u64,
    pub etag: String,
}

/// The checksums sent with a body, for the store to check on receipt.
#[derive(Debug, Clone, Copy)]
pub struct BodySums<'a> {
    /// Raw MD5 of the body (`Content-MD5`).
    pub md5: &'a [u8; 16],
    /// Raw SHA-256 of the body (`x-amz-checksum-sha256`).
    pub sha256: &'a [u8; 32],
}

impl Store {
    /// A client for `cfg`, with its key; every wait bounded by `stall`.
    pub fn new(
        cfg: &OffsiteConfig,
        creds: &S3Credentials,
        stall: Duration,
    ) -> Result<Store, OffsiteError> {
        let url = cfg.endpoint.parse().map_err(|e| {
            OffsiteError::new(
                OffsiteFailure::Other,
                format!("off-site {}: endpoint {}: {e}", cfg.name, cfg.endpoint),
            )
        })?;
        let bucket = Bucket::new(url, UrlStyle::Path, cfg.bucket.clone(), cfg.region.clone())
            .map_err(|e| {
                OffsiteError::new(
                    OffsiteFailure::Other,
                    format!("off-site {}: bucket {}: {e}", cfg.name, cfg.bucket),
                )
            })?;
        let mut tls = ureq::tls::TlsConfig::builder();
        let mut roots: Vec<ureq::tls::Certificate<'static>> = Vec::new();
        for c in rustls_native_certs::load_native_certs().certs {
            roots.push(ureq::tls::Certificate::from_der(c.as_ref()).to_owned());
        }
        if let Some(ca) = &cfg.ca_file {
            let pem = std::fs::read(ca).map_err(|e| {
                OffsiteError::new(
                    OffsiteFailure::Tls,
                    format!("off-site {}: ca_file {}: {e}", cfg.name, ca.display()),
                )
            })?;
            for item in ureq::tls::parse_pem(&pem) {
                if let Ok(ureq::tls::PemItem::Certificate(c)) = item {
                    roots.push(c);
                }
            }
        }
        tls = tls.root_certs(ureq::tls::RootCerts::Specific(std::sync::Arc::new(roots)));
        let proxy = match &cfg.proxy {
            None => None,
            Some(p) => Some(ureq::Proxy::new(p).map_err(|e| {
                OffsiteError::new(
                    OffsiteFailure::Other,
                    format!("off-site {}: proxy {p}: {e}", cfg.name),
                )
            })?),
        };
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .tls_config(tls.build())
            .proxy(proxy)
            .timeout_resolve(Some(stall))
            .timeout_connect(Some(stall))
            .timeout_per_read(Some(stall))
            .timeout_per_write(Some(stall))
            .max_idle_connections_per_host(2)
            .build()
            .into();
        Ok(Store {
            name: cfg.name.clone(),
            endpoint: cfg.endpoint.clone(),
            bucket,
            creds: Credentials::new(creds.access_key_id.clone(), creds.secret_access_key.clone()),
            agent,
            stall,
        })
    }

    /// The store's name (`[[offsite]] name`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Checks that the bucket exists and the key may use it (HEAD bucket).
    pub fn check_bucket(&self) -> Result<(), OffsiteError> {
        let what = "checking the bucket";
        let url = self.bucket.head_bucket(Some(&self.creds)).sign(SIGNED_FOR);
        let resp = self.send(self.agent.head(url.as_str()).call(), what)?;
        if resp.status().as_u16() == 404 {
            // A HEAD answer has no body to name the error: 404 on the bucket is NoSuchBucket.
            return Err(self.classify_code(404, Some("NoSuchBucket"), what, None, ""));
        }
        self.expect_ok(resp, what).map(drop)
    }

    /// Starts a multipart upload of `key`; its upload id.
    pub fn create_multipart(&self, key: &str) -> Result<String, OffsiteError> {
        let url = CreateMultipartUpload::new(&self.bucket, Some(&self.creds), key).sign(SIGNED_FOR);
        let what = format!("starting the upload of {key}");
        let resp = self.send(
            self.agent
                .post(url.as_str())
                .header("content-length", "0")
                .send_empty(),
            &what,
        )?;
        let body = self.expect_ok(resp, &what)?;
        let parsed = CreateMultipartUpload::parse_response(&body).map_err(|e| {
            OffsiteError::new(
                OffsiteFailure::Other,
                format!("{}: {what}: the answer cannot be read: {e}", self.name),
            )
        })?;
        Ok(parsed.upload_id().to_string())
    }

    /// Sends part `number` (1-based) of an upload: `len` bytes from `body`, with checksums the
    /// store checks on receipt. The store's ETag.
    pub fn upload_part(
        &self,
        key: &str,
        upload_id: &str,
        number: u32,
        body: &mut dyn Read,
        len: u64,
        sums: BodySums<'_>,
    ) -> Result<String, OffsiteError> {
        let number16 = u16::try_from(number).map_err(|_| {
            OffsiteError::new(
                OffsiteFailure::Other,
                format!(
                    "{}: part {number} of {key}: more than 10000 parts (raise part_size)",
                    self.name
                ),
            )
        })?;
        let b64 = base64::engine::general_purpose::STANDARD;
        let sha_b64 = b64.encode(sums.sha256);
        let mut action = UploadPart::new(&self.bucket, Some(&self.creds), key, number16, upload_id);
        // Signed, as the store asks of checksum headers.
        action
            .headers_mut()
            .insert("x-amz-checksum-sha256", sha_b64.clone());
        let url = action.sign(SIGNED_FOR);
        let what = format!("sending part {number} of {key}");
        let resp = self.send(
            self.agent
                .put(url.as_str())
                .header("content-length", len.to_string())
                .header("content-md5", b64.encode(sums.md5))
                .header("x-amz-checksum-sha256", &sha_b64)
                .send(ureq::SendBody::from_reader(body)),
            &what,
        )?;
        let etag = header(&resp, "etag");
        self.expect_ok(resp, &what)?;
        etag.map(|e| unquote(&e)).ok_or_else(|| {
            OffsiteError::new(
                OffsiteFailure::Other,
                format!("{}: {what}: the store answered without an ETag", self.name),
            )
        })
    }

    /// The parts the store holds for an upload; `Ok(None)` when it no longer knows the upload.
    pub fn list_parts(
        &self,
        key: &str,
        upload_id: &str,
    ) -> Result<Option<Vec<ListedPart>>, OffsiteError> {
        let mut out = Vec::new();
        let mut marker: Option<u16> = None;
        let what = format!("listing the sent parts of {key}");
        // 1000 parts a page: 11 pages hold the 10,000 parts S3 allows. A store that keeps
        // answering "truncated" (or with a marker that does not advance) is refused, not followed.
        for _page in 0..MAX_LIST_PAGES {
            let mut action = ListParts::new(&self.bucket, Some(&self.creds), key, upload_id);
            if let Some(m) = marker {
                action.set_part_number_marker(m);
            }
            let url = action.sign(SIGNED_FOR);
            let resp = self.send(self.agent.get(url.as_str()).call(), &what)?;
            if resp.status().as_u16() == 404 {
                let (code, _) = self.error_of(resp);
                if code.as_deref() == Some("NoSuchUpload") {
                    return Ok(None);
                }
                return Err(self.classify_code(404, code.as_deref(), &what, None, ""));
            }
            let body = self.expect_ok(resp, &what)?;
            let page = ListParts::parse_response(&body).map_err(|e| {
                OffsiteError::new(
                    OffsiteFailure::Other,
                    format!("{}: {what}: the answer cannot be read: {e}", self.name),
                )
            })?;
            for p in &page.parts {
                out.push(ListedPart {
                    number: u32::from(p.number),
                    etag: unquote(&p.etag),
                    size: p.size,
                });
            }
            match page.next_part_number_marker {
                Some(m) if marker.is_none_or(|prev| m > prev) => marker = Some(m),
                Some(_) => {
                    return Err(OffsiteError::new(
                        OffsiteFailure::Other,
                        format!(
                            "off-site {}: {what}: the store's listing does not advance",
                            self.name
                        ),
                    ))
                }
                None => return Ok(Some(out)),
            }
        }
        Err(OffsiteError::new(
            OffsiteFailure::Other,
            format!(
                "off-site {}: {what}: more than {MAX_LIST_PAGES} pages of parts",
                self.name
            ),
        ))
    }

    /// Completes an upload from its parts' ETags in order; the object's ETag.
    pub fn complete_multipart(
        &self,
        key: &str,
        upload_id: &str,
        etags: &[String],
    ) -> Result<String, OffsiteError> {
        let action = CompleteMultipartUpload::new(
            &self.bucket,
            Some(&self.creds),
            key,
            upload_id,
            etags.iter().map(String::as_str),
        );
        let url = action.sign(SIGNED_FOR);
        let body = action.body();
        let what = format!("completing the upload of {key}");
        let resp = self.send(self.agent.post(url.as_str()).send(body.as_bytes()), &what)?;
        let text = self.expect_ok(resp, &what)?;
        // Some stores answer 200 with an error document (S3 does, for a late failure).
        if text.contains("<Error>") {
            let code = xml_value(&text, "Code");
            let message = xml_value(&text, "Message").unwrap_or_default();
            return Err(self.classify_code(200, code.as_deref(), &what, None, &message));
        }
        Ok(xml_value(&text, "ETag")
            .map(|e| unquote(&e))
            .unwrap_or_default())
    }

    /// Aborts an upload (the store drops its parts). An upload the store no longer knows is
    /// aborted already.
    pub fn abort_multipart(&self, key: &str, upload_id: &str) -> Result<(), OffsiteError> {
        let url = AbortMultipartUpload::new(&self.bucket, Some(&self.creds), key, upload_id)
            .sign(SIGNED_FOR);
        let what = format!("aborting the upload of {key}");
        let resp = self.send(self.agent.delete(url.as_str()).call(), &what)?;
        if resp.status().as_u16() == 404 {
            return Ok(());
        }
        self.expect_ok(resp, &what).map(drop)
    }

    /// Writes a small object in one request, with its checksums.
    pub fn put_small(&self, key: &str, bytes: &[u8]) -> Result<(), OffsiteError> {
        use md5::Digest as _;
        let b64 = base64::engine::general_purpose::STANDARD;
        let md5: [u8; 16] = md5::Md5::digest(bytes).into();
        let sha: [u8; 32] = sha2::Sha256::digest(bytes).into();
        let sha_b64 = b64.encode(sha);
        let mut action = self.bucket.put_object(Some(&self.creds), key);
        action
            .headers_mut()
            .insert("x-amz-checksum-sha256", sha_b64.clone());
        let url = action.sign(SIGNED_FOR);
        let what = format!("writing {key}");
        let resp = self.send(
            self.agent
                .put(url.as_str())
                .header("content-md5", b64.encode(md5))
                .header("x-amz-checksum-sha256", &sha_b64)
                .send(bytes),
            &what,
        )?;
        self.expect_ok(resp, &what).map(drop)
    }

    /// An object's size and ETag; `Ok(None)` when it does not exist.
    pub fn head(&self, key: &str) -> Result<Option<ObjectInfo>, OffsiteError> {
        let url = self
            .bucket
            .head_object(Some(&self.creds), key)
            .sign(SIGNED_FOR);
        let what = format!("looking up {key}");
        let resp = self.send(self.agent.head(url.as_str()).call(), &what)?;
        if resp.status().as_u16() == 404 {
            return Ok(None);
        }
        let size = header(&resp, "content-length").and_then(|v| v.parse::<u64>().ok());
        let etag = header(&resp, "etag").map(|e| unquote(&e));
        self.expect_ok(resp, &what)?;
        Ok(Some(ObjectInfo {
            size: size.unwrap_or(0),
            etag: etag.unwrap_or_default(),
        }))
    }

    /// Reads bytes `start..start + len` of an object into `sink` (a ranged GET); the bytes read.
    pub fn get_range(
        &self,
        key: &str,
        start: u64,
        len: u64,
        sink: &mut dyn FnMut(&[u8]),
    ) -> Result<u64, OffsiteError> {
        let url = self
            .bucket
            .get_object(Some(&self.creds), key)
            .sign(SIGNED_FOR);
        let what = format!("reading back {key}");
        let mut req = self.agent.get(url.as_str());
        if len > 0 {
            req = req.header("range", format!("bytes={start}-{}", start + len - 1));
        }
        let mut resp = self.send(req.call(), &what)?;
        let status = resp.status().as_u16();
        if !(200..300).contains(&status) {
            return Err(self.refusal(resp, &what));
        }
        if len > 0 && status != 206 {
            // A proxy or store that ignores Range would send the whole object over the uplink.
            return Err(OffsiteError::new(
                OffsiteFailure::Other,
                format!(
                    "off-site {}: {what}: the store answered {status} to a ranged read, not 206: a proxy in the way may drop the Range header",
                    self.name
                ),
            ));
        }
        let mut reader = resp.body_mut().as_reader();
        let mut buf = vec![0u8; 256 << 10];
        let mut got = 0u64;
        loop {
            let n = reader
                .read(&mut buf)
                .map_err(|e| self.io_failure(&e, &what))?;
            if n == 0 {
                return Ok(got);
            }
            got += n as u64;
            if len > 0 && got > len {
                return Err(OffsiteError::new(
                    OffsiteFailure::Mismatch,
                    format!(
                        "off-site {}: {what}: the store sent more than the {len} bytes asked for",
                        self.name
                    ),
                ));
            }
            sink(&buf[..n]);
        }
    }

    /// Sends a request; a transport failure becomes its kind.
    fn send(
        &self,
        r: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
        what: &str,
    ) -> Result<ureq::http::Response<ureq::Body>, OffsiteError> {
        r.map_err(|e| self.transport(e, what))
    }

    /// The body of a 2xx answer, or the store's refusal as its kind.
    fn expect_ok(
        &self,
        mut resp: ureq::http::Response<ureq::Body>,
        what: &str,
    ) -> Result<String, OffsiteError> {
        let status = resp.status().as_u16();
        if !(200..300).contains(&status) {
            return Err(self.refusal(resp, what));
        }
        resp.body_mut()
            .with_config()
            .limit(MAX_SMALL_BODY)
            .read_to_string()
            .map_err(|e| self.transport(e, what))
    }

    fn error_of(&self, mut resp: ureq::http::Response<ureq::Body>) -> (Option<String>, String) {
        let body = resp
            .body_mut()
            .with_config()
            .limit(MAX_SMALL_BODY)
            .read_to_string()
            .unwrap_or_default();
        (
            xml_value(&body, "Code"),
            xml_value(&body, "Message").unwrap_or_default(),
        )
    }

    /// A non-2xx answer as its kind, the clock checked first.
    fn refusal(&self, resp: ureq::http::Response<ureq::Body>, what: &str) -> OffsiteError {
        let status = resp.status().as_u16();
        let skew = header(&resp, "date").and_then(|d| skew_secs(&d));
        let (code, message) = self.error_of(resp);
        let mut e = self.classify_code(status, code.as_deref(), what, skew, &message);
        if !message.is_empty() && e.kind != OffsiteFailure::ClockSkew {
            e.message.push_str(&format!(" (the store said: {message})"));
        }
        e
    }

    /// The kind of an S3 error `code` (or of the bare status when there is none). The store's
    /// `message` is looked at only where S3 gives one code to several causes: Garage answers a
    /// full quota with `AccessDenied` "Bucket size quota is reached" (docs/garage-facts.md).
    fn classify_code(
        &self,
        status: u16,
        code: Option<&str>,
        what: &str,
        skew: Option<i64>,
        message: &str,
    ) -> OffsiteError {
        let name = &self.name;
        let c = code.unwrap_or("");
        let skewed = skew.filter(|s| s.abs() > SKEW_LIMIT_SECS);
        // Stores refuse a signature from a clock far off with different codes (AWS:
        // RequestTimeTooSkewed 403; Garage: InvalidRequest 400 "Date is too old"): any refusal
        // from a store whose Date is far from ours is named as the clock.
        if c == "RequestTimeTooSkewed" || ((400..500).contains(&status) && skewed.is_some()) {
            let how = skewed
                .map(|s| {
                    format!(
                        "the appliance's clock is {} {} the store's",
                        human_secs(s.unsigned_abs()),
                        if s > 0 { "behind" } else { "ahead of" }
                    )
                })
                .unwrap_or_else(|| "the appliance's clock is too far from the store's".into());
            return OffsiteError::new(
                OffsiteFailure::ClockSkew,
                format!(
                    "off-site {name}: {what}: refused because {how}: the Raspberry Pi has no battery clock and keeps no time until NTP answers; check `timedatectl` (System clock synchronized: yes) and the NTP server, then it goes on by itself"
                ),
            );
        }
        let quota = message.to_ascii_lowercase().contains("quota");
        let (kind, hint) = match (status, c) {
            (_, "QuotaExceeded") | (_, "EntityTooLarge") | (507, _) => (
                OffsiteFailure::Full,
                "the bucket's quota or the store is full: ask the store's operator for room (the store's retention, not the appliance, removes old copies)",
            ),
            (403, "AccessDenied") if quota => (
                OffsiteFailure::Full,
                "the bucket's quota is reached: ask the store's operator for room (the store's retention, not the appliance, removes old copies)",
            ),
            (_, "InvalidAccessKeyId") => (
                OffsiteFailure::Credentials,
                "the store does not know this access key: check access_key_id in credentials_file",
            ),
            (_, "SignatureDoesNotMatch") => (
                OffsiteFailure::Credentials,
                "the store refused the signature: check secret_access_key in credentials_file",
            ),
            (_, "AccessDenied") | (403, _) | (401, _) => (
                OffsiteFailure::Credentials,
                "the store refused this key: check the key in credentials_file and that it may read and write the bucket",
            ),
            (_, "NoSuchBucket") => (
                OffsiteFailure::NoBucket,
                "the bucket does not exist: check bucket = in [[offsite]] or ask the store's operator to create it",
            ),
            (_, "BadDigest") | (_, "InvalidDigest") | (_, "XAmzContentChecksumMismatch")
            | (_, "XAmzContentSHA256Mismatch") | (_, "InvalidPart") => (
                OffsiteFailure::Mismatch,
                "the bytes the store received differ from what was sent (a checksum did not match): it is sent again",
            ),
            (s, _) if s >= 500 => (
                OffsiteFailure::Unreachable,
                "the store is unavailable right now: it is tried again later",
            ),
            _ => (OffsiteFailure::Other, "see the store's log"),
        };
        let code = if c.is_empty() {
            String::new()
        } else {
            format!(" {c}")
        };
        OffsiteError::new(
            kind,
            format!("off-site {name}: {what}: HTTP {status}{code}: {hint}"),
        )
    }

    /// A transport failure (no HTTP answer) as its kind.
    fn transport(&self, e: ureq::Error, what: &str) -> OffsiteError {
        let name = &self.name;
        let endpoint = &self.endpoint;
        match e {
            ureq::Error::Io(io) => self.io_failure(&io, what),
            ureq::Error::Timeout(t) => OffsiteError::new(
                OffsiteFailure::Dropped,
                format!(
                    "off-site {name}: {what}: no progress for {} s ({t}): the link or the store stopped answering; it resumes later from the last finished part",
                    self.stall.as_secs()
                ),
            ),
            ureq::Error::HostNotFound => OffsiteError::new(
                OffsiteFailure::Unreachable,
                format!("off-site {name}: {what}: the name in {endpoint} cannot be resolved: check the endpoint and the DNS"),
            ),
            ureq::Error::ConnectionFailed | ureq::Error::ConnectProxyFailed(_) => OffsiteError::new(
                OffsiteFailure::Unreachable,
                format!("off-site {name}: {what}: cannot connect to {endpoint}: check the uplink, the VPN and the proxy"),
            ),
            ureq::Error::Tls(m) => OffsiteError::new(
                OffsiteFailure::Tls,
                format!("off-site {name}: {what}: TLS with {endpoint} failed ({m}): set ca_file to the store's CA certificate"),
            ),
            ureq::Error::Rustls(r) => OffsiteError::new(
                OffsiteFailure::Tls,
                format!("off-site {name}: {what}: TLS with {endpoint} failed ({r}): set ca_file to the store's CA certificate"),
            ),
            other => OffsiteError::new(
                OffsiteFailure::Other,
                format!("off-site {name}: {what}: {other}"),
            ),
        }
    }

    fn io_failure(&self, io: &std::io::Error, what: &str) -> OffsiteError {
        use std::io::ErrorKind as K;
        let name = &self.name;
        let endpoint = &self.endpoint;
        match io.kind() {
            K::ConnectionRefused | K::NotFound | K::AddrNotAvailable => OffsiteError::new(
                OffsiteFailure::Unreachable,
                format!("off-site {name}: {what}: cannot connect to {endpoint} ({io}): check the uplink, the VPN and the proxy"),
            ),
            K::TimedOut | K::WouldBlock => OffsiteError::new(
                OffsiteFailure::Dropped,
                format!(
                    "off-site {name}: {what}: no progress for {} s: the link or the store stopped answering; it resumes later from the last finished part",
                    self.stall.as_secs()
                ),
            ),
            _ => OffsiteError::new(
                OffsiteFailure::Dropped,
                format!("off-site {name}: {what}: the connection dropped ({io}); it resumes later from the last finished part"),
            ),
        }
    }
}

fn header(resp: &ureq::http::Response<ureq::Body>, name: &str) -> Option<String> {
    resp.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

/// An ETag without its quotes, lowercase.
pub fn unquote(etag: &str) -> String {
    etag.trim().trim_matches('"').to_ascii_lowercase()
}

/// The text of the first `<tag>…</tag>` in an XML document (error codes, ETags).
fn xml_value(xml: &str, tag: &str) -> Option<String> {
    let open = format!("<{tag}>");
    let close = format!("</{tag}>");
    let start = xml.find(&open)? + open.len();
    let end = start + xml[start..].find(&close)?;
    Some(
        xml[start..end]
            .replace("&quot;", "\"")
            .replace("&#34;", "\"")
            .replace("&amp;", "&")
            .trim()
            .to_string(),
    )
}

/// How far the store's clock (its `Date` header) is ahead of ours, in seconds.
fn skew_secs(date: &str) -> Option<i64> {
    let theirs = chrono::DateTime::parse_from_rfc2822(date.trim()).ok()?;
    Some(theirs.timestamp() - chrono::Utc::now().timestamp())
}

fn human_secs(s: u64) -> String {
    match s {
        s if s >= 2 * 86_400 => format!("{} days", s / 86_400),
        s if s >= 2 * 3600 => format!("{} hours", s / 3600),
        s => format!("{} minutes", s / 60),
    }
}

/// The ETag S3 gives a multipart object: the MD5 of the parts' raw MD5s, then `-N`.
pub fn multipart_etag(part_md5_hex: &[String]) -> Option<String> {
    use md5::Digest as _;
    let mut h = md5::Md5::new();
    for p in part_md5_hex {
        h.update(crate::util::hex::unhex(p)?);
    }
    Some(format!(
        "{}-{}",
        crate::util::hex::hex(&h.finalize()),
        part_md5_hex.len()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xml_and_etags() {
        let x = "<Error><Code>NoSuchBucket</Code><Message>b</Message></Error>";
        assert_eq!(xml_value(x, "Code").as_deref(), Some("NoSuchBucket"));
        assert_eq!(xml_value(x, "Nope"), None);
        assert_eq!(unquote("\"ABC\""), "abc");
        assert_eq!(
            xml_value("<ETag>&quot;ab-2&quot;</ETag>", "ETag").map(|e| unquote(&e)),
            Some("ab-2".into())
        );
    }

    #[test]
    fn multipart_etag_is_md5_of_md5s() {
        // Two parts "a" and "b": md5("a") = 0cc175b9…, md5("b") = 92eb5ffe…
        let parts = vec![
            "0cc175b9c0f1b6a831c399e269772661".to_string(),
            "92eb5ffee6ae2fec3ad71c777531578f".to_string(),
        ];
        let e = multipart_etag(&parts).expect("hex");
        assert!(e.ends_with("-2"), "{e}");
        assert_eq!(e.len(), 32 + 2);
        assert_eq!(multipart_etag(&["zz".to_string()]), None);
    }

    #[test]
    fn a_far_date_is_a_skew() {
        let d = (chrono::Utc::now() + chrono::Duration::hours(2)).to_rfc2822();
        let s = skew_secs(&d).expect("date");
        assert!((7190..7210).contains(&s), "{s}");
        assert_eq!(human_secs(7200), "2 hours");
    }
}
