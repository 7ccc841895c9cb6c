use crate::compress::{Algorithm, AlgorithmError, negotiate, parse_algorithms};

use Algorithm::{Brotli as Br, Compress as Z, Deflate as Df, Gzip as Gz};

const ALL: &[Algorithm] = &Algorithm::ALL;

#[test]
fn negotiation_table() {
    let cases: &[(Option<&str>, &[Algorithm], Option<Algorithm>)] = &[
        (None, ALL, None),
        (Some(""), ALL, None),
        (Some("gzip"), ALL, Some(Gz)),
        (Some("br"), ALL, Some(Br)),
        (Some("compress"), ALL, Some(Z)),
        // Equal weights: configured order decides.
        (Some("br, deflate, gzip"), ALL, Some(Gz)),
        (Some("gzip, br"), &[Br, Gz], Some(Br)),
        (Some("gzip;q=1.0, br;q=0.5, *;q=0"), ALL, Some(Gz)),
        (Some("gzip;q=0.5, br;q=0.8"), ALL, Some(Br)),
        (Some("gzip;q=0.5, br;q=0.500"), ALL, Some(Gz)),
        (Some("*"), ALL, Some(Gz)),
        (Some("*"), &[Z, Br], Some(Z)),
        (Some("*;q=0"), ALL, None),
        (Some("gzip;q=0, *"), ALL, Some(Df)),
        (Some("*;q=0.5, br"), ALL, Some(Br)),
        (
            Some("gzip;q=0, deflate;q=0, br;q=0, compress;q=0"),
            ALL,
            None,
        ),
        // identity.
        (Some("identity"), ALL, None),
        (Some("identity;q=1, gzip;q=0.5"), ALL, None),
        (Some("identity;q=0.5, gzip"), ALL, Some(Gz)),
        (Some("identity, gzip"), ALL, Some(Gz)),
        (Some("identity;q=0, *;q=0"), ALL, None),
        // Case and whitespace.
        (Some("GZIP ; Q = 0.9 , Br;q=1"), ALL, Some(Br)),
        (Some(" \t gzip\t;\tq=0.3 ,, ,deflate;q=0.4 "), ALL, Some(Df)),
        (Some("x-gzip"), ALL, Some(Gz)),
        (Some("X-Compress;q=0.2, gzip;q=0.1"), ALL, Some(Z)),
        // Configured subset.
        (Some("compress"), &[Gz], None),
        (Some("zstd, br;q=0.2, gzip;q=0.1"), &[Gz, Df], Some(Gz)),
        (Some("gzip"), &[], None),
        // q-value edge cases.
        (Some("br;q=0.001"), ALL, Some(Br)),
        (Some("gzip;q=1.000"), ALL, Some(Gz)),
        (Some("gzip;q=0."), ALL, None),
        (Some("gzip;q=1.001, br;q=0.1"), ALL, Some(Br)),
        (Some("gzip;q=1.5, deflate;q=0.1"), ALL, Some(Df)),
        (Some("gzip;q=-1, deflate;q=0.1"), ALL, Some(Df)),
        (Some("gzip;q=abc, deflate"), ALL, Some(Df)),
        (Some("gzip;q=.5, deflate;q=0.1"), ALL, Some(Df)),
        (Some("gzip;q=\"0.5\", br;q=0.1"), ALL, Some(Br)),
        (Some("gzip;q, br;q=0.1"), ALL, Some(Br)),
        (Some("gzip;q=0.12345, br;q=0.1"), ALL, Some(Gz)),
        // First entry for a coding wins.
        (Some("gzip;q=0.5, gzip;q=1, deflate;q=0.7"), ALL, Some(Df)),
        // Unknown parameters are ignored, trailing semicolons tolerated.
        (Some("gzip;level=9;"), ALL, Some(Gz)),
        // Garbage.
        (Some(";;;==,,, gzip"), ALL, Some(Gz)),
        (Some("g zip, gz(ip), gzíp, br;q=0.3"), ALL, Some(Br)),
        (Some("\u{0}\u{7f}garbage;q=1"), ALL, None),
        (Some("=;=,;;q=1,*;q=x"), ALL, None),
    ];
    for (header, configured, want) in cases {
        assert_eq!(
            negotiate(*header, configured),
            *want,
            "Accept-Encoding {header:?}, configured {configured:?}"
        );
    }
}

#[test]
fn negotiation_never_panics_on_arbitrary_input() {
    let mut rng = super::Rng::new(7);
    let alphabet = b"gzipbrdeflatecompressidentity*;q=0.15,\t \"x-";
    for _ in 0..5000 {
        let len = rng.below(40);
        let header: String = (0..len)
            .map(|_| char::from(alphabet[rng.below(alphabet.len())]))
            .collect();
        let _ = negotiate(Some(&header), ALL);
    }
}

#[test]
fn algorithm_ids_and_parsing() {
    for alg in Algorithm::ALL {
        assert_eq!(alg.id().parse::<Algorithm>(), Ok(alg));
        assert_eq!(alg.to_string(), alg.id());
    }
    assert_eq!("BR".parse::<Algorithm>(), Ok(Br));
    assert_eq!(
        "zstd".parse::<Algorithm>(),
        Err(AlgorithmError::Unknown("zstd".into()))
    );
    assert_eq!(parse_algorithms(["br", "gzip"]), Ok(vec![Br, Gz]));
    assert_eq!(parse_algorithms(Vec::<String>::new()), Ok(ALL.to_vec()));
    assert_eq!(
        parse_algorithms(["gzip", "br", "gzip"]),
        Err(AlgorithmError::Duplicate(Gz))
    );
}
