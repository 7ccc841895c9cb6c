//! One ACME order for one name: authorize it with a challenge the edge answers itself, then
//! finalize with a fresh key and fetch the chain.

use std::time::Duration;

use instant_acme::{
    Account, AuthorizationStatus, ChallengeType, Identifier, NewOrder, OrderStatus, RetryPolicy,
};

use super::AcmeError;
use super::challenges::Challenges;
use crate::config::AcmeChallenge;

/// How long the CA may take to validate, and then to issue.
const POLL: RetryPolicy = RetryPolicy::new()
    .initial_delay(Duration::from_millis(250))
    .backoff(1.5)
    .timeout(Duration::from_secs(90));

/// A certificate just issued: the PEM chain and the PEM private key.
pub(super) struct Issued {
    pub(super) chain_pem: String,
    pub(super) key_pem: String,
}

/// What must be taken down once the order is over.
enum Answer {
    Http01(String),
    TlsAlpn01(String),
}

/// Orders a certificate for `name`, answering with the first of `prefer` the CA offers.
pub(super) async fn order_certificate(
    account: &Account,
    name: &str,
    prefer: &[AcmeChallenge],
    challenges: &Challenges,
) -> Result<Issued, AcmeError> {
    let mut answers = Vec::new();
    let result = run_order(account, name, prefer, challenges, &mut answers).await;
    for a in answers {
        match a {
            Answer::Http01(token) => challenges.remove_http01(&token),
            Answer::TlsAlpn01(name) => challenges.remove_tls_alpn01(&name),
        }
    }
    result
}

async fn run_order(
    account: &Account,
    name: &str,
    prefer: &[AcmeChallenge],
    challenges: &Challenges,
    answers: &mut Vec<Answer>,
) -> Result<Issued, AcmeError> {
    let identifiers = [Identifier::Dns(name.to_string())];
    let mut order = account.new_order(&NewOrder::new(&identifiers)).await?;
    let mut authorizations = order.authorizations();
    while let Some(authz) = authorizations.next().await {
        let mut authz = authz?;
        match authz.status {
            AuthorizationStatus::Pending => {}
            AuthorizationStatus::Valid => continue,
            other => {
                return Err(AcmeError::Order(format!(
                    "the authorization for {name} is {other:?}"
                )));
            }
        }
        let Some(kind) = prefer.iter().copied().find(|k| {
            let t = challenge_type(*k);
            authz.challenges.iter().any(|c| c.r#type == t)
        }) else {
            return Err(AcmeError::Order(format!(
                "the CA offers none of the configured challenges for {name}"
            )));
        };
        let Some(mut challenge) = authz.challenge(challenge_type(kind)) else {
            return Err(AcmeError::Order(format!("the {kind:?} challenge vanished")));
        };
        let key_authorization = challenge.key_authorization();
        match kind {
            AcmeChallenge::Http01 => {
                challenges.put_http01(&challenge.token, key_authorization.as_str());
                answers.push(Answer::Http01(challenge.token.clone()));
            }
            AcmeChallenge::TlsAlpn01 => {
                challenges.put_tls_alpn01(name, key_authorization.digest().as_ref())?;
                answers.push(Answer::TlsAlpn01(name.to_string()));
            }
        }
        tracing::debug!(name, challenge = ?kind, "ACME challenge ready");
        challenge.set_ready().await?;
    }
    let status = order.poll_ready(&POLL).await?;
    if status != OrderStatus::Ready {
        let why = order
            .state()
            .error
            .as_ref()
            .map_or_else(|| format!("{status:?}"), |p| p.to_string());
        return Err(AcmeError::Order(format!(
            "the order for {name} failed: {why}"
        )));
    }
    let key_pem = order.finalize().await?;
    let chain_pem = order.poll_certificate(&POLL).await?;
    Ok(Issued { chain_pem, key_pem })
}

fn challenge_type(kind: AcmeChallenge) -> ChallengeType {
    match kind {
        AcmeChallenge::Http01 => ChallengeType::Http01,
        AcmeChallenge::TlsAlpn01 => ChallengeType::TlsAlpn01,
    }
}
