//! `req.user_agent.*`: the User-Agent header read the way ngrok reads it.
//!
//! Hand-written on purpose: ngrok's subfields (`name`, `version`, `os`, `os_version`, `device`,
//! `url`, `is_mobile`, `is_tablet`, `is_desktop`, `is_bot`) and their values are those of the Go
//! library github.com/mileusna/useragent (names such as `Chrome`, `Googlebot`, `Android browser`,
//! OS names such as `macOS` and `ChromeOS`, `curl` not counted as a bot, the bot's `url`). No
//! maintained Rust crate gives that vocabulary or those results: `uaparser` and `woothee` name
//! browsers, systems and device classes differently, so a policy written for ngrok would compare
//! against strings they never produce. This module reimplements the same token rules with plain
//! byte scanning (no regex), since it runs per request when a policy reads `req.user_agent.*`.

mod tokens;

use tokens::{Tokens, tokenize};

/// What a User-Agent says about the client, in ngrok's vocabulary.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct UserAgent {
    pub name: String,
    pub version: String,
    pub os: String,
    pub os_version: String,
    pub device: String,
    /// The URL a crawler gives for itself (`+http://www.google.com/bot.html`), without `+`.
    pub url: String,
    pub is_mobile: bool,
    pub is_tablet: bool,
    pub is_desktop: bool,
    pub is_bot: bool,
}

const ANDROID: &str = "Android";
const IOS: &str = "iOS";

/// Reads a User-Agent header.
pub(crate) fn parse(header: &str) -> UserAgent {
    let mut tokens = tokenize(header);
    let mut ua = UserAgent::default();
    if let Some(i) = tokens
        .0
        .iter()
        .position(|t| t.key.starts_with("http://") || t.key.starts_with("https://"))
    {
        ua.url = tokens.0.remove(i).key;
    }
    detect_os(&tokens, header, &mut ua);
    detect_product(&tokens, header, &mut ua);
    if ua.os == ANDROID {
        ua.is_mobile = true;
    }
    if ua.is_tablet {
        ua.is_mobile = false;
    }
    ua.is_bot = ua.is_bot || !ua.url.is_empty() || ua.name == "Twitterbot";
    ua.is_bot |= ua.name == "facebookexternalhit";
    ua
}

/// Sets the OS, its version, the device and the device class from the system tokens.
fn detect_os(t: &Tokens, header: &str, ua: &mut UserAgent) {
    let (os, os_version) = if let Some(at) = t.position(ANDROID) {
        ua.is_tablet = header.to_lowercase().contains("tablet");
        ua.device = t.android_device(at);
        (ANDROID, t.0[at].value.clone())
    } else if t.has("iPhone") {
        ua.device = "iPhone".into();
        ua.is_mobile = true;
        (IOS, t.os_version())
    } else if t.has("iPad") {
        ua.device = "iPad".into();
        ua.is_tablet = true;
        (IOS, t.os_version())
    } else if t.has("Windows NT") {
        ua.is_desktop = true;
        ("Windows", t.get("Windows NT").to_string())
    } else if t.has("Windows Phone OS") {
        ua.is_mobile = true;
        ("Windows Phone", t.get("Windows Phone OS").to_string())
    } else if t.has("Macintosh") {
        ua.is_desktop = true;
        ("macOS", t.os_version())
    } else if t.has("Linux") {
        ua.is_desktop = true;
        ("Linux", t.get("Linux").to_string())
    } else if t.has("CrOS") {
        ua.is_desktop = true;
        ("ChromeOS", t.get("CrOS").to_string())
    } else {
        return;
    };
    ua.os = os.into();
    ua.os_version = os_version;
}

/// How a named product sets `is_mobile`.
#[derive(Clone, Copy)]
enum MobileRule {
    /// Mobile when a `Mobile` or `Mobile Safari` part is present.
    MobilePart,
    /// Left as the OS set it.
    Unchanged,
}

/// Named products checked in order: (token, reported name, mobile rule).
const PRODUCTS: &[(&str, &str, MobileRule)] = &[
    ("OPR", "Opera", MobileRule::MobilePart),
    ("OPT", "Opera Touch", MobileRule::MobilePart),
    ("OPiOS", "Opera", MobileRule::MobilePart),
    ("CriOS", "Chrome", MobileRule::MobilePart),
    ("FxiOS", "Firefox", MobileRule::MobilePart),
];

const PRODUCTS_AFTER_FIREFOX: &[(&str, &str, MobileRule)] =
    &[("Vivaldi", "Vivaldi", MobileRule::Unchanged)];

const PRODUCTS_AFTER_MSIE: &[(&str, &str, MobileRule)] = &[
    ("EdgiOS", "Edge", MobileRule::MobilePart),
    ("Edge", "Edge", MobileRule::MobilePart),
    ("Edg", "Edge", MobileRule::MobilePart),
    ("EdgA", "Edge", MobileRule::MobilePart),
    ("bingbot", "Bingbot", MobileRule::MobilePart),
    ("YandexBot", "YandexBot", MobileRule::MobilePart),
    ("SamsungBrowser", "Samsung Browser", MobileRule::MobilePart),
];

/// Sets name, version and the bot flag from the first product rule that matches.
fn detect_product(t: &Tokens, header: &str, ua: &mut UserAgent) {
    let named = |ua: &mut UserAgent, list: &[(&str, &str, MobileRule)]| {
        list.iter()
            .find(|(key, ..)| t.has_value(key))
            .map(|&(key, name, rule)| {
                ua.name = name.into();
                ua.version = t.get(key).into();
                if let MobileRule::MobilePart = rule {
                    ua.is_mobile = t.is_mobile();
                }
            })
    };
    for bot in ["Googlebot", "Applebot"] {
        if t.has(bot) {
            ua.name = bot.into();
            ua.version = t.get(bot).into();
            ua.is_bot = true;
            ua.is_mobile = t.is_mobile();
            if bot == "Applebot" {
                ua.os.clear();
            }
            return;
        }
    }
    if t.has_value("Opera Mini") {
        ua.name = "Opera Mini".into();
        ua.version = t.get("Opera Mini").into();
        ua.is_mobile = true;
        return;
    }
    if named(ua, PRODUCTS).is_some() {
        return;
    }
    if t.has_value("Firefox") {
        ua.name = "Firefox".into();
        ua.version = t.get("Firefox").into();
        ua.is_mobile = t.has("Mobile");
        ua.is_tablet = t.has("Tablet");
        return;
    }
    if named(ua, PRODUCTS_AFTER_FIREFOX).is_some() {
        return;
    }
    if t.has("MSIE") {
        ua.name = "Internet Explorer".into();
        ua.version = t.get("MSIE").into();
        return;
    }
    if named(ua, PRODUCTS_AFTER_MSIE).is_some() {
        return;
    }
    if t.has_value("HeadlessChrome") {
        ua.name = "Headless Chrome".into();
        ua.version = t.get("HeadlessChrome").into();
        ua.is_mobile = t.is_mobile();
        ua.is_bot = true;
        return;
    }
    detect_app_or_browser(t, header, ua);
}

/// The rules after the named products: ad crawlers, in-app browsers, then Chrome/Safari and
/// the fallbacks.
fn detect_app_or_browser(t: &Tokens, header: &str, ua: &mut UserAgent) {
    let mobile_os = ua.os == ANDROID || ua.os == IOS;
    if t.has_any(&[
        "AdsBot-Google-Mobile",
        "Mediapartners-Google",
        "AdsBot-Google",
    ]) {
        ua.name = "Google Ads Bot".into();
        ua.is_bot = true;
        ua.is_mobile = mobile_os;
    } else if t.has("Yahoo Ad monitoring") {
        ua.name = "Yahoo Ad monitoring".into();
        ua.is_bot = true;
        ua.is_mobile = mobile_os;
    } else if t.has("XiaoMi") {
        if let Some(v) = t.get("XiaoMi").strip_prefix("MiuiBrowser") {
            ua.name = "Miui Browser".into();
            ua.version = v.strip_prefix('/').unwrap_or(v).into();
            ua.is_mobile = true;
        }
    } else if t.has("FBAN") {
        ua.name = "Facebook App".into();
        ua.version = t.get("FBAN").into();
    } else if t.has("FB_IAB") {
        ua.name = "Facebook App".into();
        ua.version = t.get("FBAV").into();
    } else if t.0.iter().any(|x| x.key.starts_with("Instagram")) {
        ua.name = "Instagram App".into();
        ua.version = t.version_in(|key| key.starts_with("Instagram"));
    } else if t.has("BytedanceWebview") {
        ua.name = "TikTok App".into();
        ua.version = t.get("app_version").into();
    } else if t.has_value("HuaweiBrowser") {
        ua.name = "Huawei Browser".into();
        ua.version = t.get("HuaweiBrowser").into();
        ua.is_mobile = t.is_mobile();
    } else if let Some(other) = (t.has("Chrome") && t.has("Safari"))
        .then(|| t.best_name(true))
        .flatten()
        .filter(|best| !best.key.is_empty())
    {
        ua.name = other.key.clone();
        ua.version = other.value.clone();
    } else if t.has("Chrome") || t.has("Brave Chrome") {
        let key = if t.has("Chrome") {
            "Chrome"
        } else {
            "Brave Chrome"
        };
        ua.name = "Chrome".into();
        ua.version = t.get(key).into();
        ua.is_mobile = t.is_mobile();
    } else if t.has("Safari") {
        ua.name = "Safari".into();
        let version = t.get("Version");
        ua.version = if version.is_empty() {
            t.get("Safari")
        } else {
            version
        }
        .into();
        ua.is_mobile = t.is_mobile();
    } else if ua.os == ANDROID && t.has_value("Version") {
        ua.name = "Android browser".into();
        ua.version = t.get("Version").into();
        ua.is_mobile = true;
    } else {
        match t.best_name(false) {
            Some(best) if !best.key.is_empty() => {
                ua.name = best.key.clone();
                ua.version = best.value.clone();
            }
            _ => ua.name = header.to_string(),
        }
        ua.is_bot = ua.name.to_lowercase().contains("bot");
        ua.is_mobile = t.is_mobile();
    }
}

#[cfg(test)]
mod tests;
