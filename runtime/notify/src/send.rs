//! Sending one notification through one notifier, and what came of it: sent, worth trying
//! again (a network error, a timeout, 5xx, 408, 429 with its `Retry-After`), or failed for
//! good (another 4xx, a refused destination, a redirect: redirects are not followed).
//! Errors never carry a URL: webhook URLs and bot tokens are secrets.

use crate::destination::Policy;
use crate::payload;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;
use vigil_alerting::Notification;
use vigil_vocab::notify::NotifierPlan;

/// Looks up a secret (`env("NAME")`) when a notification is sent.
pub type SecretFn = Arc<dyn Fn(&str) -> Option<String> + Send + Sync>;
/// Where the console notifier writes.
pub type ConsoleFn = Arc<dyn Fn(&str) + Send + Sync>;

/// What came of one attempt.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Sent,
    /// Try again, after the receiver's `Retry-After` when it gave one.
    Retry {
        after: Option<Duration>,
        why: String,
    },
    /// Do not try again: to the dead letters.
    Failed(String),
}

/// The default time one attempt may take.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// Sends notifications; one per daemon, shared by the delivery tasks.
pub struct Sender {
    http: reqwest::Client,
    policy: Policy,
    external_url: String,
    secret: SecretFn,
    console: ConsoleFn,
}

/// Resolves names for the HTTP client and drops the addresses the policy refuses, so a
/// name is checked as it is used.
struct Guard(Policy);

impl reqwest::dns::Resolve for Guard {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let policy = self.0.clone();
        let host = name.as_str().to_string();
        Box::pin(async move {
            let all: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let mut refused = None;
            let ok: Vec<SocketAddr> = all
                .into_iter()
                .filter(|a| match policy.check(a.ip()) {
                    Ok(()) => true,
                    Err(e) => {
                        refused = Some(e);
                        false
                    }
                })
                .collect();
            if ok.is_empty() {
                let why = refused.map_or_else(
                    || format!("{host} has no address"),
                    |e| format!("{host}: {e}"),
                );
                return Err(why.into());
            }
            Ok(Box::new(ok.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

impl Sender {
    pub fn new(
        policy: Policy,
        external_url: String,
        secret: SecretFn,
        console: ConsoleFn,
    ) -> Result<Sender, String> {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .dns_resolver(Arc::new(Guard(policy.clone())))
            .user_agent(concat!("vigil/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| format!("cannot build the HTTP client: {e}"))?;
        Ok(Sender {
            http,
            policy,
            external_url,
            secret,
            console,
        })
    }

    fn text(&self, plan: &NotifierPlan, key: &str) -> Result<String, Outcome> {
        plan.text(key, &*self.secret).ok_or_else(|| {
            Outcome::Failed(format!(
                "notifier `{}`: `{key}` is not set (is its environment variable set?)",
                plan.name
            ))
        })
    }

    /// One attempt. `until` is when a firing alert sent to an Alertmanager should end unless
    /// sent again.
    pub async fn send(&self, plan: &NotifierPlan, n: &Notification, until: i64) -> Outcome {
        match self.attempt(plan, n, until).await {
            Ok(o) | Err(o) => o,
        }
    }

    async fn attempt(
        &self,
        plan: &NotifierPlan,
        n: &Notification,
        until: i64,
    ) -> Result<Outcome, Outcome> {
        let timeout = plan
            .seconds("timeout")
            .map_or(DEFAULT_TIMEOUT, Duration::from_secs_f64);
        let (url, body) = match plan.kind.as_str() {
            "console" => {
                (self.console)(&payload::console(n));
                return Ok(Outcome::Sent);
            }
            "file" => {
                let path = self.text(plan, "path")?;
                return Ok(append(&path, &payload::file_line(n)).await);
            }
            "email" => return Ok(self.email(plan, n, timeout).await),
            "webhook" => {
                let max = plan.seconds("max_alerts").unwrap_or(0.0) as usize;
                (
                    self.text(plan, "url")?,
                    payload::webhook(n, &self.external_url, max),
                )
            }
            "slack" => (
                self.text(plan, "webhook")?,
                payload::slack(
                    n,
                    plan.text("channel", &*self.secret).as_deref(),
                    plan.text("username", &*self.secret).as_deref(),
                ),
            ),
            "pagerduty" => (
                plan.text("url", &*self.secret)
                    .unwrap_or_else(|| "https://events.pagerduty.com/v2/enqueue".into()),
                payload::pagerduty(
                    n,
                    &self.text(plan, "routing_key")?,
                    plan.text("severity", &*self.secret).as_deref(),
                ),
            ),
            "teams" => (self.text(plan, "webhook")?, payload::teams(n)),
            "telegram" => {
                let base = plan
                    .text("api_url", &*self.secret)
                    .unwrap_or_else(|| "https://api.telegram.org".into());
                (
                    format!(
                        "{}/bot{}/sendMessage",
                        base.trim_end_matches('/'),
                        self.text(plan, "bot_token")?
                    ),
                    payload::telegram(n, &self.text(plan, "chat_id")?),
                )
            }
            "alertmanager" => (
                format!(
                    "{}/api/v2/alerts",
                    self.text(plan, "url")?.trim_end_matches('/')
                ),
                payload::alertmanager(n, until),
            ),
            other => return Ok(Outcome::Failed(format!("unknown notifier kind `{other}`"))),
        };
        let headers = plan.texts("headers", &*self.secret);
        Ok(
            match self.request("POST", &url, &body, timeout, &headers).await {
                // A URL's complaint names the notifier.
                Outcome::Failed(why)
                    if why.starts_with("the URL") || why.starts_with("only http") =>
                {
                    Outcome::Failed(format!("notifier `{}`: {why}", plan.name))
                }
                o => o,
            },
        )
    }

    /// One HTTP request with a JSON body to `url`, the destination checked and redirects not
    /// followed (a playbook's HTTP step, and every HTTP notifier).
    pub async fn request(
        &self,
        method: &str,
        url: &str,
        body: &serde_json::Value,
        timeout: Duration,
        headers: &[String],
    ) -> Outcome {
        let Ok(parsed) = url::Url::parse(url) else {
            return Outcome::Failed("the URL does not parse".into());
        };
        if !matches!(parsed.scheme(), "http" | "https") {
            return Outcome::Failed("only http and https URLs".into());
        }
        // IP literals never reach the resolver.
        if let Some(url::Host::Ipv4(_) | url::Host::Ipv6(_)) = parsed.host()
            && let Some(ip) = parsed
                .host_str()
                .and_then(|h| h.trim_matches(['[', ']']).parse::<IpAddr>().ok())
            && let Err(e) = self.policy.check(ip)
        {
            return Outcome::Failed(e.to_string());
        }
        let Ok(m) = reqwest::Method::from_bytes(method.to_uppercase().as_bytes()) else {
            return Outcome::Failed(format!("`{method}` is not an HTTP method"));
        };
        let mut req = self.http.request(m, parsed).timeout(timeout);
        if !body.is_null() {
            req = req.json(body);
        }
        for h in headers {
            if let Some((k, v)) = h.split_once(':') {
                req = req.header(k.trim(), v.trim());
            }
        }
        let resp = match req.send().await {
            Ok(r) => r,
            Err(e) => {
                let e = e.without_url();
                let why = error_chain(&e);
                // A refused destination stays refused.
                if why.contains("which the configuration does not allow") {
                    return Outcome::Failed(why);
                }
                return Outcome::Retry { after: None, why };
            }
        };
        classify(resp.status().as_u16(), resp.headers())
    }

    async fn email(&self, plan: &NotifierPlan, n: &Notification, timeout: Duration) -> Outcome {
        use lettre::message::{Mailbox, MultiPart};
        use lettre::transport::smtp::authentication::Credentials;
        use lettre::transport::smtp::client::{Tls, TlsParameters};
        use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
        let smtp = match self.text(plan, "smtp") {
            Ok(s) => s,
            Err(o) => return o,
        };
        let Ok(u) = url::Url::parse(&smtp) else {
            return Outcome::Failed(format!("notifier `{}`: `smtp` does not parse", plan.name));
        };
        let wrapper = match u.scheme() {
            "smtp" => false,
            "smtps" => true,
            _ => {
                return Outcome::Failed(format!(
                    "notifier `{}`: `smtp` must be smtp://host[:port] or smtps://",
                    plan.name
                ));
            }
        };
        let Some(host) = u.host_str().map(|h| h.trim_matches(['[', ']']).to_string()) else {
            return Outcome::Failed(format!("notifier `{}`: `smtp` names no host", plan.name));
        };
        let port = u.port().unwrap_or(if wrapper { 465 } else { 587 });
        match tokio::net::lookup_host((host.as_str(), port)).await {
            Ok(addrs) => {
                for a in addrs {
                    if let Err(e) = self.policy.check(a.ip()) {
                        return Outcome::Failed(e.to_string());
                    }
                }
            }
            Err(e) => {
                return Outcome::Retry {
                    after: None,
                    why: format!("{host}: {e}"),
                };
            }
        }
        let params = match TlsParameters::new(host.clone()) {
            Ok(p) => p,
            Err(e) => return Outcome::Failed(format!("TLS: {e}")),
        };
        let tls = if wrapper {
            Tls::Wrapper(params)
        } else {
            match plan
                .text("starttls", &*self.secret)
                .as_deref()
                .unwrap_or("required")
            {
                "none" => Tls::None,
                "opportunistic" => Tls::Opportunistic(params),
                _ => Tls::Required(params),
            }
        };
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host)
            .port(port)
            .tls(tls)
            .timeout(Some(timeout));
        if !u.username().is_empty() {
            let user = url::form_urlencoded::parse(u.username().as_bytes())
                .map(|(k, _)| k.into_owned())
                .next()
                .unwrap_or_default();
            let pass = u.password().unwrap_or("").to_string();
            builder = builder.credentials(Credentials::new(user, pass));
        }
        let transport = builder.build();
        let from = plan
            .text("from", &*self.secret)
            .unwrap_or_else(|| "vigil@localhost".into());
        let (subject, text, html) =
            payload::email(n, plan.text("subject", &*self.secret).as_deref());
        let mut msg = Message::builder().subject(subject);
        match from.parse::<Mailbox>() {
            Ok(m) => msg = msg.from(m),
            Err(_) => return Outcome::Failed(format!("notifier `{}`: bad `from`", plan.name)),
        }
        let to = plan.texts("to", &*self.secret);
        for t in &to {
            match t.parse::<Mailbox>() {
                Ok(m) => msg = msg.to(m),
                Err(_) => {
                    return Outcome::Failed(format!(
                        "notifier `{}`: bad address in `to`",
                        plan.name
                    ));
                }
            }
        }
        let msg = match msg.multipart(MultiPart::alternative_plain_html(text, html)) {
            Ok(m) => m,
            Err(e) => return Outcome::Failed(format!("the message: {e}")),
        };
        match transport.send(msg).await {
            Ok(_) => Outcome::Sent,
            Err(e) if e.is_permanent() => Outcome::Failed(format!("SMTP: {e}")),
            Err(e) => Outcome::Retry {
                after: None,
                why: format!("SMTP: {e}"),
            },
        }
    }
}

/// An HTTP status as an outcome.
pub fn classify(status: u16, headers: &reqwest::header::HeaderMap) -> Outcome {
    match status {
        200..=299 => Outcome::Sent,
        429 | 503 => Outcome::Retry {
            after: headers
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(retry_after),
            why: format!("the receiver answered {status}"),
        },
        408 | 500..=599 => Outcome::Retry {
            after: None,
            why: format!("the receiver answered {status}"),
        },
        300..=399 => Outcome::Failed(format!(
            "the receiver redirected ({status}); redirects are not followed"
        )),
        _ => Outcome::Failed(format!("the receiver refused it ({status})")),
    }
}

/// `Retry-After`: seconds, or an HTTP date. At most an hour is honoured.
pub fn retry_after(v: &str) -> Option<Duration> {
    let d = match v.trim().parse::<u64>() {
        Ok(s) => Duration::from_secs(s),
        Err(_) => httpdate::parse_http_date(v.trim())
            .ok()?
            .duration_since(std::time::SystemTime::now())
            .unwrap_or_default(),
    };
    Some(d.min(Duration::from_secs(3600)))
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(c) = src {
        s.push_str(": ");
        s.push_str(&c.to_string());
        src = c.source();
    }
    s
}

async fn append(path: &str, line: &str) -> Outcome {
    use tokio::io::AsyncWriteExt;
    let f = tokio::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .await;
    let mut f = match f {
        Ok(f) => f,
        Err(e) => {
            return Outcome::Retry {
                after: None,
                why: format!("{path}: {e}"),
            };
        }
    };
    let mut buf = line.to_string();
    buf.push('\n');
    match f.write_all(buf.as_bytes()).await {
        Ok(()) => Outcome::Sent,
        Err(e) => Outcome::Retry {
            after: None,
            why: format!("{path}: {e}"),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses() {
        let mut h = reqwest::header::HeaderMap::new();
        assert_eq!(classify(202, &h), Outcome::Sent);
        h.insert(reqwest::header::RETRY_AFTER, "7".parse().unwrap());
        assert_eq!(
            classify(429, &h),
            Outcome::Retry {
                after: Some(Duration::from_secs(7)),
                why: "the receiver answered 429".into()
            }
        );
        assert!(matches!(classify(400, &h), Outcome::Failed(_)));
        assert!(matches!(classify(302, &h), Outcome::Failed(_)));
        assert!(matches!(
            classify(502, &h),
            Outcome::Retry { after: None, .. }
        ));
        assert_eq!(retry_after("99999"), Some(Duration::from_secs(3600)));
        assert!(retry_after("Wed, 21 Oct 2015 07:28:00 GMT").is_some());
    }
}
