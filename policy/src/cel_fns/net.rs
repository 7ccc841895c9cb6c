//! IP helpers: `inCidrRange`, `inCidrRanges` and `isPrivateIp`, for IPv4
//! and IPv6.

use std::net::IpAddr;

use cel::Env;
use cel::common::types::{LIST_TYPE, STRING_TYPE};
use ipnet::IpNet;

use crate::cel_fns::RegisterError;
use crate::cel_fns::util::{Args, Ret, as_str, bool_val, for_each_item, str_arg};

/// Registers `inCidrRange(string, string)`, `inCidrRanges(string, list)` and
/// `string.isPrivateIp()`.
pub(crate) fn register(env: &mut Env) -> Result<(), RegisterError> {
    env.add_overload(
        "inCidrRange",
        "in_cidr_range_string_string",
        vec![STRING_TYPE, STRING_TYPE],
        in_cidr_range,
    )?;
    env.add_overload(
        "inCidrRanges",
        "in_cidr_ranges_string_list",
        vec![STRING_TYPE, LIST_TYPE],
        in_cidr_ranges,
    )?;
    env.add_member_overload(
        "isPrivateIp",
        "string_is_private_ip",
        STRING_TYPE,
        vec![],
        is_private_ip,
    )?;
    Ok(())
}

/// Parses an IP address, reading an IPv4-mapped IPv6 address as the IPv4
/// address it maps, as Go's `net.IP` does.
fn parse_ip(text: &str) -> Option<IpAddr> {
    match text.trim().parse::<IpAddr>().ok()? {
        IpAddr::V6(v6) => Some(v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4)),
        v4 => Some(v4),
    }
}

/// Whether `ip` is in the network `cidr`; false if either doesn't parse.
fn contains(ip: IpAddr, cidr: &str) -> bool {
    cidr.trim()
        .parse::<IpNet>()
        .is_ok_and(|net| net.contains(&ip))
}

/// `inCidrRange(ip, cidr)`: whether `ip` is in `cidr`, false for an invalid
/// address or network.
fn in_cidr_range<'b, 'v>(args: Args<'b, 'v>) -> Ret<'b, 'v> {
    let ip = parse_ip(str_arg(&args, 0)?);
    let cidr = str_arg(&args, 1)?;
    Ok(bool_val(ip.is_some_and(|ip| contains(ip, cidr))))
}

/// `inCidrRanges(ip, cidrs)`: whether `ip` is in any of `cidrs`, skipping
/// entries that aren't valid networks.
fn in_cidr_ranges<'b, 'v>(args: Args<'b, 'v>) -> Ret<'b, 'v> {
    let Some(ip) = parse_ip(str_arg(&args, 0)?) else {
        return Ok(bool_val(false));
    };
    let mut found = false;
    if let Some(list) = args.get(1) {
        for_each_item(list.as_ref(), |item| {
            found = found || as_str(item).is_some_and(|cidr| contains(ip, cidr));
            Ok(())
        })?;
    }
    Ok(bool_val(found))
}

/// `ip.isPrivateIp()`: whether `ip` is a private address: RFC 1918 for IPv4
/// (`10/8`, `172.16/12`, `192.168/16`), and RFC 4193 unique local addresses
/// (`fc00::/7`) for IPv6. False for anything that isn't an IP address.
fn is_private_ip<'b, 'v>(args: Args<'b, 'v>) -> Ret<'b, 'v> {
    let private = match parse_ip(str_arg(&args, 0)?) {
        Some(IpAddr::V4(v4)) => v4.is_private(),
        Some(IpAddr::V6(v6)) => (v6.segments()[0] & 0xfe00) == 0xfc00,
        None => false,
    };
    Ok(bool_val(private))
}
