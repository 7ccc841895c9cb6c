//! Real User-Agent headers and what ngrok's parser (mileusna/useragent's rules) makes of them.

use super::{UserAgent, parse};

/// Expected fields: name, version, os, os_version, device, url, then the flags as a string of
/// `m` (mobile), `t` (tablet), `d` (desktop), `b` (bot).
type Case = (&'static str, [&'static str; 6], &'static str);

fn expected(fields: [&str; 6], flags: &str) -> UserAgent {
    let [name, version, os, os_version, device, url] = fields.map(str::to_string);
    UserAgent {
        name,
        version,
        os,
        os_version,
        device,
        url,
        is_mobile: flags.contains('m'),
        is_tablet: flags.contains('t'),
        is_desktop: flags.contains('d'),
        is_bot: flags.contains('b'),
    }
}

fn check(cases: &[Case]) {
    for (header, fields, flags) in cases {
        assert_eq!(parse(header), expected(*fields, flags), "{header}");
    }
}

#[test]
fn desktop_browsers() {
    check(&[
        (
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36",
            ["Chrome", "120.0.0.0", "Windows", "10.0", "", ""],
            "d",
        ),
        (
            "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Safari/605.1.15",
            ["Safari", "17.1", "macOS", "10.15.7", "", ""],
            "d",
        ),
        (
            "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0",
            ["Firefox", "121.0", "Linux", "x86_64", "", ""],
            "d",
        ),
        (
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36 Edg/120.0.2210.91",
            ["Edge", "120.0.2210.91", "Windows", "10.0", "", ""],
            "d",
        ),
        (
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36 OPR/106.0.0.0",
            ["Opera", "106.0.0.0", "Windows", "10.0", "", ""],
            "d",
        ),
        (
            // ChromeOS: the library reports the architecture as the OS version.
            "Mozilla/5.0 (X11; CrOS x86_64 15633.69.0) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/119.0.6045.212 Safari/537.36",
            ["Chrome", "119.0.6045.212", "ChromeOS", "x86_64", "", ""],
            "d",
        ),
        (
            // A vendor token with a version beside Chrome and Safari names the browser.
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/118.0.0.0 YaBrowser/23.11.0.0 Safari/537.36",
            ["YaBrowser", "23.11.0.0", "Windows", "10.0", "", ""],
            "d",
        ),
        (
            "Mozilla/4.0 (compatible; MSIE 7.0; Windows NT 6.0)",
            ["Internet Explorer", "7.0", "Windows", "6.0", "", ""],
            "d",
        ),
        (
            // IE 11 has no MSIE token: the first named token with a version wins.
            "Mozilla/5.0 (Windows NT 10.0; WOW64; Trident/7.0; rv:11.0) like Gecko",
            ["Trident", "7.0", "Windows", "10.0", "", ""],
            "d",
        ),
    ]);
}

#[test]
fn phones_and_tablets() {
    check(&[
        (
            "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1.2 Mobile/15E148 Safari/604.1",
            ["Safari", "17.1.2", "iOS", "17.1.2", "iPhone", ""],
            "m",
        ),
        (
            "Mozilla/5.0 (iPad; CPU OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) CriOS/120.0.6099.119 Mobile/15E148 Safari/604.1",
            ["Chrome", "120.0.6099.119", "iOS", "17.1", "iPad", ""],
            "t",
        ),
        (
            "Mozilla/5.0 (Linux; Android 14; Pixel 8 Pro) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.6099.144 Mobile Safari/537.36",
            [
                "Chrome",
                "120.0.6099.144",
                "Android",
                "14",
                "Pixel 8 Pro",
                "",
            ],
            "m",
        ),
        (
            // Chrome's reduced user agent names the device `K`.
            "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Mobile Safari/537.36",
            ["Chrome", "120.0.0.0", "Android", "10", "K", ""],
            "m",
        ),
        (
            // `Build/…` is cut from the device; Android is always mobile unless it says tablet.
            "Mozilla/5.0 (Linux; Android 13; SM-X700 Build/TP1A.220624.014) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/23.0 Chrome/115.0.0.0 Safari/537.36",
            ["Samsung Browser", "23.0", "Android", "13", "SM-X700", ""],
            "m",
        ),
        (
            "Mozilla/5.0 (Android 13; Tablet; rv:121.0) Gecko/121.0 Firefox/121.0",
            ["Firefox", "121.0", "Android", "13", "Tablet", ""],
            "t",
        ),
        (
            // A language tag after the Android version is not a device.
            "Mozilla/5.0 (Linux; U; Android 4.1.2; de-de; GT-I8190 Build/JZO54K) AppleWebKit/534.30 (KHTML, like Gecko) Version/4.0 Mobile Safari/534.30",
            ["Android browser", "4.0", "Android", "4.1.2", "", ""],
            "m",
        ),
        (
            "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 [FBAN/FBIOS;FBAV/444.0.0.41.110]",
            ["Facebook App", "FBIOS", "iOS", "17.1.2", "iPhone", ""],
            "m",
        ),
    ]);
}

#[test]
fn crawlers_give_their_url_and_are_bots() {
    check(&[
        (
            "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
            [
                "Googlebot",
                "2.1",
                "",
                "",
                "",
                "http://www.google.com/bot.html",
            ],
            "b",
        ),
        (
            "Mozilla/5.0 (Linux; Android 6.0.1; Nexus 5X Build/MMB29P) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.6099.71 Mobile Safari/537.36 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
            [
                "Googlebot",
                "2.1",
                "Android",
                "6.0.1",
                "Nexus 5X",
                "http://www.google.com/bot.html",
            ],
            "mb",
        ),
        (
            "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
            [
                "Bingbot",
                "2.0",
                "",
                "",
                "",
                "http://www.bing.com/bingbot.htm",
            ],
            "b",
        ),
        (
            "Mozilla/5.0 (compatible; YandexBot/3.0; +http://yandex.com/bots)",
            ["YandexBot", "3.0", "", "", "", "http://yandex.com/bots"],
            "b",
        ),
        (
            // Applebot clears the OS name but keeps what was read as its version.
            "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/13.1.1 Safari/605.1.15 (Applebot/0.1; +http://www.apple.com/go/applebot)",
            [
                "Applebot",
                "0.1",
                "",
                "10.15.5",
                "",
                "http://www.apple.com/go/applebot",
            ],
            "db",
        ),
        (
            "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)",
            [
                "facebookexternalhit",
                "1.1",
                "",
                "",
                "",
                "http://www.facebook.com/externalhit_uatext.php",
            ],
            "b",
        ),
        ("Twitterbot/1.0", ["Twitterbot", "1.0", "", "", "", ""], "b"),
        (
            "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/120.0.6099.28 Safari/537.36",
            [
                "Headless Chrome",
                "120.0.6099.28",
                "Linux",
                "x86_64",
                "",
                "",
            ],
            "db",
        ),
    ]);
}

#[test]
fn tools_are_named_but_not_bots() {
    check(&[
        ("curl/8.5.0", ["curl", "8.5.0", "", "", "", ""], ""),
        ("Wget/1.21.4", ["Wget", "1.21.4", "", "", "", ""], ""),
        (
            "python-requests/2.31.0",
            ["python-requests", "2.31.0", "", "", "", ""],
            "",
        ),
        (
            "Go-http-client/1.1",
            ["Go-http-client", "1.1", "", "", "", ""],
            "",
        ),
    ]);
}

#[test]
fn unreadable_headers_name_themselves() {
    check(&[
        ("", ["", "", "", "", "", ""], ""),
        ("Mozilla/5.0", ["Mozilla/5.0", "", "", "", "", ""], ""),
        ("MyBot", ["MyBot", "", "", "", "", ""], "b"),
        // A device token that ends the header does not crash the device lookup.
        (
            "Mozilla/5.0 (Linux; Android 14)",
            [
                "Mozilla/5.0 (Linux; Android 14)",
                "",
                "Android",
                "14",
                "",
                "",
            ],
            "m",
        ),
    ]);
}
