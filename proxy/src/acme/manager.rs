//! The ACME manager: a background task that orders the configured domains at start, names
//! bound under the base domains on first bind, and renewals before expiry (checked
//! periodically, or at once on `POST /acme/renew`). Each order runs in its own task, a few at
//! a time, and is retried a bounded number of times with exponential backoff; a name that
//! still fails is tried again at the next renewal check.

use std::collections::HashSet;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use instant_acme::{Account, NewAccount};
use tokio::sync::{Notify, Semaphore, mpsc};

use super::http_client::AcmeHttp;
use super::order::order_certificate;
use super::store::Store;
use super::{Acme, AcmeError, Covers, Handle, ManagedCert};
use crate::config::{AcmeChallenge, AcmeConfig};

/// Orders running at once.
const PARALLEL_ORDERS: usize = 4;
/// Attempts per order before waiting for the next renewal check.
const ATTEMPTS: u32 = 5;
/// Wait after a first failure; doubles each time, up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_secs(2);
/// Longest wait between attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(600);
/// Longest time between renewal checks.
const MAX_CHECK_INTERVAL: Duration = Duration::from_secs(3600);
/// Names waiting for their first order at most.
const WANTED_QUEUE: usize = 1024;
/// The CA's problem type for an account it no longer knows (a CA reset, as pebble on restart).
const ACCOUNT_GONE: &str = "urn:ietf:params:acme:error:accountDoesNotExist";

/// The ACME manager, ready to run once the listeners that answer challenges are up.
pub struct Manager {
    worker: Worker,
    /// Names bound by agents that need a certificate.
    wanted: mpsc::Receiver<String>,
}

/// What the manager's tasks share.
struct Worker {
    config: AcmeConfig,
    store: Store,
    acme: Arc<Acme>,
    account: tokio::sync::Mutex<Option<Account>>,
    /// The CA no longer knows the stored account: make a new one.
    stored_gone: AtomicBool,
    in_flight: Mutex<HashSet<String>>,
    orders: Semaphore,
    /// Bound names still without a certificate (their orders failed): tried again at each
    /// renewal check.
    unserved: Mutex<HashSet<String>>,
    renew: Arc<Notify>,
}

/// Loads the stored certificates into `acme` (served at once), checks the CA roots and
/// connects `acme` to the manager it returns; nothing is ordered until [`Manager::spawn`].
pub fn prepare(
    config: &AcmeConfig,
    state_dir: &Path,
    acme: &Arc<Acme>,
) -> Result<Manager, AcmeError> {
    AcmeHttp::new(config.ca_roots.as_deref())?;
    let store = Store::new(state_dir, &config.directory);
    for (name, cert) in store.load_certs() {
        tracing::info!(name = %name, not_after = ?cert.not_after, "ACME certificate loaded from the state folder");
        acme.certs.insert(&name, cert);
    }
    let (tx, wanted) = mpsc::channel(WANTED_QUEUE);
    let renew = Arc::new(Notify::new());
    let handle = Handle {
        wanted: tx,
        renew: renew.clone(),
        covers: Covers {
            domains: config.domains.clone(),
            base_domains: config.base_domains.clone(),
        },
        tls_alpn01: config.challenges.contains(&AcmeChallenge::TlsAlpn01),
    };
    if acme.handle.set(handle).is_err() {
        return Err(AcmeError::Store(
            "the ACME manager is already running".into(),
        ));
    }
    Ok(Manager {
        worker: Worker {
            config: config.clone(),
            store,
            acme: acme.clone(),
            account: tokio::sync::Mutex::new(None),
            stored_gone: AtomicBool::new(false),
            in_flight: Mutex::new(HashSet::new()),
            orders: Semaphore::new(PARALLEL_ORDERS),
            unserved: Mutex::new(HashSet::new()),
            renew,
        },
        wanted,
    })
}

impl Manager {
    /// Starts the background task.
    pub fn spawn(self) {
        tokio::spawn(Arc::new(self.worker).run(self.wanted));
    }
}

impl Worker {
    async fn run(self: Arc<Self>, mut wanted: mpsc::Receiver<String>) {
        for name in &self.config.domains {
            if self
                .acme
                .certs
                .get(name)
                .is_none_or(|c| c.due(self.config.renew_before))
            {
                self.clone().order(name.clone(), "configured domain");
            }
        }
        let every =
            (self.config.renew_before / 4).clamp(Duration::from_secs(10), MAX_CHECK_INTERVAL);
        let mut check = tokio::time::interval(every);
        check.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        check.tick().await;
        loop {
            tokio::select! {
                Some(name) = wanted.recv() => {
                    if self.acme.certs.get(&name).is_none() {
                        if let Ok(mut u) = self.unserved.lock() {
                            u.insert(name.clone());
                        }
                        self.clone().order(name, "first bind");
                    }
                }
                _ = check.tick() => {
                    for name in self.covered_names() {
                        if self.acme.certs.get(&name).is_none_or(|c| c.due(self.config.renew_before)) {
                            self.clone().order(name, "renewal");
                        }
                    }
                }
                () = self.renew.notified() => {
                    for name in self.covered_names() {
                        self.clone().order(name, "renewal asked for");
                    }
                }
            }
        }
    }

    /// The configured domains, every name held that the config still covers, and the bound
    /// names still waiting for their first certificate.
    fn covered_names(&self) -> Vec<String> {
        let covers = Covers {
            domains: self.config.domains.clone(),
            base_domains: self.config.base_domains.clone(),
        };
        let mut names = self.config.domains.clone();
        let unserved = self
            .unserved
            .lock()
            .map(|u| u.iter().cloned().collect::<Vec<_>>())
            .unwrap_or_default();
        for n in self.acme.certs.names().into_iter().chain(unserved) {
            if covers.covers(&n) && !names.contains(&n) {
                names.push(n);
            }
        }
        names
    }

    /// Orders a certificate for `name` in its own task, unless one is already on its way.
    fn order(self: Arc<Self>, name: String, why: &'static str) {
        let fresh = self
            .in_flight
            .lock()
            .map(|mut s| s.insert(name.clone()))
            .unwrap_or(false);
        if !fresh {
            return;
        }
        tokio::spawn(async move {
            let Ok(_permit) = self.orders.acquire().await else {
                return;
            };
            self.order_with_retries(&name, why).await;
            if let Ok(mut s) = self.in_flight.lock() {
                s.remove(&name);
            }
        });
    }

    async fn order_with_retries(&self, name: &str, why: &str) {
        let mut backoff = FIRST_BACKOFF;
        for attempt in 1..=ATTEMPTS {
            tracing::info!(name, why, attempt, "ACME: ordering a certificate");
            match self.order_once(name).await {
                Ok(cert) => {
                    tracing::info!(name, not_after = ?cert.not_after, "ACME: certificate issued and installed");
                    self.acme.certs.insert(name, cert);
                    if let Ok(mut u) = self.unserved.lock() {
                        u.remove(name);
                    }
                    return;
                }
                Err(e) => {
                    if let AcmeError::Acme(instant_acme::Error::Api(p)) = &e
                        && p.r#type.as_deref() == Some(ACCOUNT_GONE)
                    {
                        *self.account.lock().await = None;
                        self.stored_gone.store(true, Ordering::Relaxed);
                    }
                    if attempt == ATTEMPTS {
                        tracing::error!(name, error = %Chain(&e), attempts = ATTEMPTS, "ACME: no certificate; trying again at the next renewal check");
                        return;
                    }
                    tracing::warn!(name, error = %Chain(&e), attempt, retry_in = ?backoff, "ACME: order failed");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                }
            }
        }
    }

    async fn order_once(&self, name: &str) -> Result<ManagedCert, AcmeError> {
        let account = self.account().await?;
        let issued = order_certificate(
            &account,
            name,
            &self.config.challenges,
            &self.acme.challenges,
        )
        .await?;
        let cert = ManagedCert::from_pem(&issued.chain_pem, &issued.key_pem)?;
        self.store
            .save_cert(name, &issued.chain_pem, &issued.key_pem)?;
        Ok(cert)
    }

    /// The account: the stored one, else a new one (stored). A CA that forgot the stored
    /// account gets a new one after the failed order.
    async fn account(&self) -> Result<Account, AcmeError> {
        let mut slot = self.account.lock().await;
        if let Some(a) = slot.as_ref() {
            return Ok(a.clone());
        }
        let http = || AcmeHttp::new(self.config.ca_roots.as_deref()).map(Box::new);
        let stored = if self.stored_gone.swap(false, Ordering::Relaxed) {
            None
        } else {
            self.store.load_account()?
        };
        let account = match stored {
            Some(credentials) => {
                Account::builder_with_http(http()?)
                    .from_credentials(credentials)
                    .await?
            }
            None => {
                let contact = self.config.email.as_ref().map(|e| format!("mailto:{e}"));
                let contacts: Vec<&str> = contact.iter().map(String::as_str).collect();
                let (account, credentials) = Account::builder_with_http(http()?)
                    .create(
                        &NewAccount {
                            contact: &contacts,
                            terms_of_service_agreed: true,
                            only_return_existing: false,
                        },
                        self.config.directory.clone(),
                        None,
                    )
                    .await?;
                self.store.save_account(&credentials)?;
                tracing::info!(directory = %self.config.directory, "ACME: account created");
                account
            }
        };
        *slot = Some(account.clone());
        Ok(account)
    }
}

/// An error with its sources, `: `-separated (hyper's errors say little without theirs).
struct Chain<'a>(&'a AcmeError);

impl std::fmt::Display for Chain<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)?;
        let mut source = std::error::Error::source(self.0);
        while let Some(e) = source {
            let text = e.to_string();
            if !self.0.to_string().contains(&text) {
                write!(f, ": {text}")?;
            }
            source = e.source();
        }
        Ok(())
    }
}
