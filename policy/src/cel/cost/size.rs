//! Size bounds the cost estimator ([`super::estimate`]) tracks alongside costs, and the cost
//! of a loop over a collection whose elements share one total size ([`spread_bound`]).

use super::limits::REQUEST_HEAD_BYTES;

/// A size bound, level by level. `max[0]` is the value's own length (bytes of a string,
/// entries of a list or map), `max[1]` the largest length of one of its elements, and so on;
/// the last level repeats. `sum[k]`, where known, bounds the lengths of all the values `k`
/// levels down *added together* (`sum[1]` of a list of strings: its total bytes); where it is
/// not known, the product of the `max` levels bounds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Size {
    max: Vec<u64>,
    sum: Vec<u64>,
}

impl Size {
    /// A number or boolean: nothing to scan.
    pub(super) fn scalar() -> Size {
        Size::of(&[0])
    }

    /// Levels of largest lengths, no total known beyond their products.
    pub(super) fn of(levels: &[u64]) -> Size {
        Size {
            max: levels.to_vec(),
            sum: Vec::new(),
        }
    }

    /// Levels of largest lengths and, level by level, of total lengths.
    pub(super) fn with_totals(levels: &[u64], totals: &[u64]) -> Size {
        Size {
            max: levels.to_vec(),
            sum: totals.to_vec(),
        }
    }

    /// A value nothing is known about, e.g. `vars.x`: no larger than a request could make it.
    pub(super) fn unknown() -> Size {
        Size::of(&[REQUEST_HEAD_BYTES])
    }

    pub(super) fn len(&self) -> u64 {
        self.max[0]
    }

    /// The largest length `i` levels down.
    pub(super) fn level(&self, i: usize) -> u64 {
        self.max.get(i).or(self.max.last()).copied().unwrap_or(1)
    }

    /// The bound on the lengths of all the values `i` levels down, added together.
    pub(super) fn total(&self, i: usize) -> u64 {
        let product = (0..=i).fold(1u64, |a, k| a.saturating_mul(self.level(k)));
        self.sum.get(i).map_or(product, |&s| s.min(product))
    }

    /// The bound of the values inside (list elements, map values). Totals carry over: the
    /// values inside one element are among those inside the whole.
    pub(super) fn inner(&self) -> Size {
        if self.max.len() > 1 {
            Size {
                max: self.max[1..].to_vec(),
                sum: self.sum.get(1..).unwrap_or_default().to_vec(),
            }
        } else {
            Size::of(&self.max)
        }
    }

    /// The bound `levels` levels down.
    pub(super) fn skip(self, levels: usize) -> Size {
        let mut s = self;
        for _ in 0..levels {
            s = s.inner();
        }
        s
    }

    /// A bound of either value.
    pub(super) fn max(&self, other: &Size) -> Size {
        let n = self.max.len().max(other.max.len());
        let known = self.sum.len().max(other.sum.len());
        Size {
            max: (0..n).map(|i| self.level(i).max(other.level(i))).collect(),
            sum: (0..known)
                .map(|i| self.total(i).max(other.total(i)))
                .collect(),
        }
    }

    /// A bound of the concatenation of the two values (`+`).
    pub(super) fn concat(&self, other: &Size) -> Size {
        let mut out = self.max(other);
        out.max[0] = self.len().saturating_add(other.len());
        let known = self.sum.len().max(other.sum.len()).max(1);
        out.sum = (0..known)
            .map(|i| self.total(i).saturating_add(other.total(i)))
            .collect();
        out
    }

    /// A collection of `n` values of size `item`.
    pub(super) fn collection(n: u64, item: &Size) -> Size {
        let mut max = vec![n];
        max.extend_from_slice(&item.max);
        let mut sum = vec![n];
        sum.extend(item.sum.iter().map(|s| s.saturating_mul(n)));
        Size { max, sum }
    }

    /// The same bound, with the values `level` levels down together at most `total` long.
    pub(super) fn limit_total(mut self, level: usize, total: u64) -> Size {
        while self.sum.len() <= level {
            let known = self.total(self.sum.len());
            self.sum.push(known);
        }
        self.sum[level] = self.sum[level].min(total);
        self
    }

    /// The same bound, with the value's own length at most `len`.
    pub(super) fn capped(&self, len: u64) -> Size {
        let mut out = self.clone();
        out.max[0] = out.max[0].min(len);
        if let Some(s) = out.sum.first_mut() {
            *s = (*s).min(len);
        }
        out
    }
}

/// Thresholds of element length between which [`spread_bound`] groups elements: powers of 2
/// (21 steps up to the 1 MiB request head, so a loop body is estimated about 20 times).
const SPREAD_BASE: u64 = 2;

/// The element lengths [`spread_bound`] needs a body estimated at, ending with `max`; `None` when the
/// total says nothing more than `n · max` does.
pub(super) fn spread_caps(n: u64, max: u64, total: u64) -> Option<Vec<u64>> {
    if n <= 1 || total >= n.saturating_mul(max) {
        return None;
    }
    let mut caps = Vec::new();
    let mut u = 1u64;
    while u < max {
        caps.push(u);
        u = u.saturating_mul(SPREAD_BASE);
    }
    caps.push(max);
    Some(caps)
}

/// The worst-case cost of running a loop body once for each of `n` elements, each at most
/// `max` long and all together at most `total` long, where `values[j]` is the estimate of one
/// run on an element at most `caps[j]` long (so also on any shorter one), `caps` from
/// [`spread_caps`]. Also bounds the total size of what the body makes, with `values` giving
/// sizes instead.
///
/// Why it is still an upper bound, whatever the real lengths: the body is estimated at the
/// lengths `u₀ = 1`, `uⱼ = 2ʲ`, … up to `max`, giving `gⱼ`, made non-decreasing by taking the
/// smallest at or above it. An element of length in `(uⱼ₋₁, uⱼ]` costs at most `gⱼ`, and takes
/// more than `uⱼ₋₁` of the total, so at most `Bⱼ = min(n, total / (uⱼ₋₁ + 1))` elements are
/// longer than `uⱼ₋₁` (`B₀ = n`). Two bounds follow, and the smallest of them and `n · g_max`
/// (the bound without a total) is returned:
/// - by groups: with `Sⱼ ≤ Bⱼ` elements longer than `uⱼ₋₁`, the cost is
///   `Σ Sⱼ (gⱼ − gⱼ₋₁) ≤ Σ Bⱼ (gⱼ − gⱼ₋₁)` (`g₋₁ = 0`, every difference ≥ 0);
/// - affine: from any `k`, every element costs at most `gₖ + b·len`, `b` the largest
///   `(gⱼ − gₖ) / (uⱼ₋₁ + 1)` over `j > k`, since an element of length in `(uⱼ₋₁, uⱼ]` costs
///   at most `gⱼ ≤ gₖ + b·(uⱼ₋₁ + 1) ≤ gₖ + b·len`; summed: `n·gₖ + b·total`.
///
/// For a body linear in the element (a regex over it) the affine bound is about `n` times the
/// fixed part plus twice the whole input's scan: the input read twice, not `n` times.
pub(super) fn spread_bound(n: u64, total: u64, caps: &[u64], values: &[u64]) -> u64 {
    let mut g = values.to_vec();
    let plain = n.saturating_mul(g.last().copied().unwrap_or(0));
    for j in (0..g.len().saturating_sub(1)).rev() {
        g[j] = g[j].min(g[j + 1]);
    }
    let longer = |j: usize| match j {
        0 => n,
        _ => n.min(total / caps[j - 1].saturating_add(1)),
    };
    let mut by_groups = 0u64;
    for j in 0..g.len() {
        let below = j.checked_sub(1).map_or(0, |i| g[i]);
        by_groups = by_groups.saturating_add(longer(j).saturating_mul(g[j] - below));
    }
    let mut best = plain.min(by_groups);
    for k in 0..g.len() {
        // `b · total`, with `b` kept as the fraction it is.
        let spread = (k + 1..g.len())
            .map(|j| {
                let per = u128::from(g[j] - g[k]) * u128::from(total);
                per.div_ceil(u128::from(caps[j - 1]) + 1)
            })
            .max()
            .unwrap_or(0);
        let affine = n
            .saturating_mul(g[k])
            .saturating_add(u64::try_from(spread).unwrap_or(u64::MAX));
        best = best.min(affine);
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    /// [`spread_bound`] of `body` estimated at the lengths it needs.
    pub(super) fn spread_cost(
        n: u64,
        max: u64,
        total: u64,
        mut body: impl FnMut(u64) -> u64,
    ) -> u64 {
        match spread_caps(n, max, total) {
            Some(caps) => {
                let values: Vec<u64> = caps.iter().map(|&u| body(u)).collect();
                spread_bound(n, total, &caps, &values)
            }
            None => n.saturating_mul(body(max)),
        }
    }

    #[test]
    fn spread_cost_is_the_plain_product_without_a_useful_total() {
        assert_eq!(spread_cost(100, 50, 5000, |l| 1 + l), 100 * 51);
        assert_eq!(spread_cost(1, 50, 10, |l| 1 + l), 51);
    }

    #[test]
    fn spread_cost_bounds_every_split_of_the_total() {
        // Brute force over small cases: any lengths with each ≤ max and sum ≤ total.
        let bodies: [fn(u64) -> u64; 3] = [|l| 3 + l / 2, |l| 1 + l * l, |l| 5 + l.min(3)];
        for body in bodies {
            for n in 1..=4u64 {
                for max in 0..=9u64 {
                    for total in 0..=20u64 {
                        let bound = spread_cost(n, max, total, body);
                        let mut worst = 0;
                        let mut lens = vec![0u64; n as usize];
                        loop {
                            if lens.iter().sum::<u64>() <= total {
                                worst = worst.max(lens.iter().map(|&l| body(l)).sum());
                            }
                            let mut i = 0;
                            while i < lens.len() && lens[i] == max {
                                lens[i] = 0;
                                i += 1;
                            }
                            if i == lens.len() {
                                break;
                            }
                            lens[i] += 1;
                        }
                        assert!(
                            bound >= worst,
                            "n {n} max {max} total {total}: {bound} < {worst}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn a_regex_over_every_header_value_costs_the_head_a_few_times() {
        let n = 32_768;
        let head = REQUEST_HEAD_BYTES;
        let cost = spread_cost(n, head, head, |l| 12 + l.div_ceil(10));
        assert!(cost < 3 * head, "{cost}");
        assert!(cost > head / 10 + 12 * n, "{cost}");
    }
}
