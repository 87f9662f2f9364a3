//! E-mail over SMTP with lettre: plain text, a stable `Message-ID` per message so that a
//! receiving system can recognise a message it has seen, and a failure classified as temporary
//! (connection refused, 4xx replies) or permanent (a malformed address, 5xx replies).

use std::time::Duration;

use lettre::message::{Mailbox, MultiPart, SinglePart, header::ContentType};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use super::SendError;
use crate::config::{ConfigError, MailConfig};

/// One e-mail.
#[derive(Debug, Clone)]
pub struct Email {
    /// The recipient's address.
    pub to: String,
    /// Subject line.
    pub subject: String,
    /// Plain-text body.
    pub text: String,
    /// A value unique to this message (the caller's id for it); the `Message-ID` is made from it.
    pub id: String,
    /// Files attached (none: a plain-text message).
    pub attachments: Vec<Attachment>,
}

/// A file attached to an e-mail.
#[derive(Debug, Clone)]
pub struct Attachment {
    /// Its name as the recipient sees it.
    pub filename: String,
    /// Its media type, e.g. `application/pdf`.
    pub media_type: String,
    /// Its content.
    pub bytes: Vec<u8>,
}

/// Sends e-mail through the configured SMTP server.
#[derive(Clone)]
pub struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    domain: String,
}

impl std::fmt::Debug for Mailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mailer").field("from", &self.from).finish()
    }
}

impl Mailer {
    /// The mailer of `cfg`, or `None` when no SMTP server is configured.
    pub fn from_config(cfg: &MailConfig) -> Result<Option<Mailer>, ConfigError> {
        let Some(url) = &cfg.smtp_url else {
            return Ok(None);
        };
        let from: Mailbox = cfg
            .from
            .parse()
            .map_err(|e| ConfigError(format!("mail.from `{}`: {e}", cfg.from)))?;
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url.expose())
            .map_err(|e| ConfigError(format!("mail.smtp_url: {e}")))?
            .timeout(Some(Duration::from_secs(cfg.timeout_secs)))
            .build();
        let domain = from.email.domain().to_owned();
        Ok(Some(Mailer {
            transport,
            from,
            domain,
        }))
    }

    /// Sends `mail`; returns its `Message-ID`.
    pub async fn send(&self, mail: &Email) -> Result<String, SendError> {
        let to: Mailbox = mail
            .to
            .parse()
            .map_err(|e| SendError::Permanent(format!("recipient `{}`: {e}", mail.to)))?;
        let message_id = format!("<{}@{}>", mail.id, self.domain);
        let builder = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(mail.subject.clone())
            .message_id(Some(message_id.clone()));
        let message = if mail.attachments.is_empty() {
            builder
                .header(ContentType::TEXT_PLAIN)
                .body(mail.text.clone())
        } else {
            let mut parts = MultiPart::mixed().singlepart(SinglePart::plain(mail.text.clone()));
            for a in &mail.attachments {
                let media = ContentType::parse(&a.media_type)
                    .map_err(|e| SendError::Permanent(format!("attachment {}: {e}", a.filename)))?;
                parts = parts.singlepart(
                    lettre::message::Attachment::new(a.filename.clone())
                        .body(a.bytes.clone(), media),
                );
            }
            builder.multipart(parts)
        }
        .map_err(|e| SendError::Permanent(format!("message: {e}")))?;
        match self.transport.send(message).await {
            Ok(_) => Ok(message_id),
            Err(e) if e.is_permanent() => Err(SendError::Refused(e.to_string())),
            Err(e) => Err(SendError::Transient(e.to_string())),
        }
    }
}
