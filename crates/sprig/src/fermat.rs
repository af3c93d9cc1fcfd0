//! A fast, variable-time Fermat test to base 2, used only to discard composite candidates
//! during RSA prime search before the authoritative Baillie-PSW test of `crypto-primes` runs.
//!
//! Why it exists: `crypto-primes` runs its Miller-Rabin step in constant time with heap-allocated
//! numbers, so discarding the ~40 composite survivors of the small-prime sieve dominated
//! `genCA`/`genSignedCert` (and so a bitnami chart's render). A composite always fails here
//! except for the rare base-2 pseudoprimes, which the full test that follows rejects; a prime
//! always passes. Only the candidate's primality leaks through timing, and candidates that
//! fail are thrown away, as Go's `crypto/rand.Prime` does with its own variable-time tests.
//!
//! Pure arithmetic on little-endian `u64` limbs; calls nothing else.

/// Whether `2^(n-1) ≡ 1 (mod n)`. `None` when the filter does not apply (`n` even, not 512,
/// 1024, 1536 or 2048 bits long, or its top limb's top bit clear): the caller then runs the
/// full test alone.
pub(crate) fn base2_probable_prime(n: &[u64]) -> Option<bool> {
    match n.len() {
        8 => fermat2::<8>(n.try_into().ok()?),
        16 => fermat2::<16>(n.try_into().ok()?),
        24 => fermat2::<24>(n.try_into().ok()?),
        32 => fermat2::<32>(n.try_into().ok()?),
        _ => None,
    }
}

/// [`base2_probable_prime`] on `crypto-bigint` words (64-bit limbs on 64-bit targets; elsewhere
/// the filter steps aside).
pub(crate) fn base2_probable_prime_words(words: &[crypto_bigint::Word]) -> Option<bool> {
    #[cfg(target_pointer_width = "64")]
    {
        base2_probable_prime(words)
    }
    #[cfg(not(target_pointer_width = "64"))]
    {
        let _ = words;
        None
    }
}

/// The test for a `K`-limb modulus (the limb count is a constant so the loops unroll).
fn fermat2<const K: usize>(n: &[u64; K]) -> Option<bool> {
    if n[0] & 1 == 0 || n[K - 1] >> 63 == 0 {
        return None;
    }
    let n0inv = neg_inverse(n[0]);
    // R mod n with R = 2^(64K): as n > R/2, R - n < n, which is -n in K-limb arithmetic.
    let mut one = [0u64; K];
    sub_in_place(&mut one, n);
    let mut x = one;
    // Left to right over the exponent n-1 (n is odd, so n-1 is n with bit 0 cleared):
    // square, then multiply by the base 2, which in Montgomery form is a doubling.
    for i in (0..64 * K).rev() {
        mont_square(&mut x, n, n0inv);
        if i != 0 && (n[i / 64] >> (i % 64)) & 1 == 1 {
            double_mod(&mut x, n);
        }
    }
    Some(x == one)
}

/// `-n0^{-1} mod 2^64` for odd `n0` (Newton's iteration doubles the correct bits each step).
fn neg_inverse(n0: u64) -> u64 {
    let mut inv: u64 = 1;
    for _ in 0..6 {
        inv = inv.wrapping_mul(2u64.wrapping_sub(n0.wrapping_mul(inv)));
    }
    inv.wrapping_neg()
}

/// `x = x·x·R^{-1} mod n`: the square from cross products doubled plus the diagonal (about
/// half the multiplications of a general product), then Montgomery reduction limb by limb.
fn mont_square<const K: usize>(x: &mut [u64; K], n: &[u64; K], n0inv: u64) {
    // 2K limbs of product; the array is sized for the largest K and only 2K limbs are used.
    let mut t = [0u64; 64];
    for i in 0..K {
        let a = u128::from(x[i]);
        let mut carry = 0u128;
        for j in i + 1..K {
            let s = u128::from(t[i + j]) + a * u128::from(x[j]) + carry;
            t[i + j] = s as u64;
            carry = s >> 64;
        }
        t[i + K] = carry as u64;
    }
    let mut top = 0u64;
    for limb in t[..2 * K].iter_mut() {
        let next = *limb >> 63;
        *limb = (*limb << 1) | top;
        top = next;
    }
    let mut carry = 0u128;
    for i in 0..K {
        let sq = u128::from(x[i]) * u128::from(x[i]);
        let s = u128::from(t[2 * i]) + (sq & u128::from(u64::MAX)) + carry;
        t[2 * i] = s as u64;
        let s = u128::from(t[2 * i + 1]) + (sq >> 64) + (s >> 64);
        t[2 * i + 1] = s as u64;
        carry = s >> 64;
    }
    // Reduction: clear one low limb per step by adding a multiple of n.
    let mut extra = 0u128;
    for i in 0..K {
        let m = u128::from(t[i].wrapping_mul(n0inv));
        let mut carry = 0u128;
        for j in 0..K {
            let s = u128::from(t[i + j]) + m * u128::from(n[j]) + carry;
            t[i + j] = s as u64;
            carry = s >> 64;
        }
        let s = u128::from(t[i + K]) + carry + extra;
        t[i + K] = s as u64;
        extra = s >> 64;
    }
    x.copy_from_slice(&t[K..2 * K]);
    // The result is below 2n: subtract n once if needed.
    if extra != 0 || !less_than(x, n) {
        sub_in_place(x, n);
    }
}

/// `x = 2x mod n` for `x < n`.
fn double_mod<const K: usize>(x: &mut [u64; K], n: &[u64; K]) {
    let mut carry = 0u64;
    for limb in x.iter_mut() {
        let next = *limb >> 63;
        *limb = (*limb << 1) | carry;
        carry = next;
    }
    if carry != 0 || !less_than(x, n) {
        sub_in_place(x, n);
    }
}

fn less_than(a: &[u64], b: &[u64]) -> bool {
    for (x, y) in a.iter().rev().zip(b.iter().rev()) {
        if x != y {
            return x < y;
        }
    }
    false
}

fn sub_in_place(a: &mut [u64], b: &[u64]) {
    let mut borrow = false;
    for (x, &y) in a.iter_mut().zip(b) {
        let (v, b1) = x.overflowing_sub(y);
        let (v, b2) = v.overflowing_sub(u64::from(borrow));
        *x = v;
        borrow = b1 | b2;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crypto_bigint::BoxedUint;

    /// `2^(n-1) mod n == 1` computed independently by crypto-bigint's constant-time modular
    /// exponentiation.
    fn oracle(n: &BoxedUint) -> bool {
        use crypto_bigint::Resize;
        use crypto_bigint::modular::{BoxedMontyForm, BoxedMontyParams};
        let params = BoxedMontyParams::new_vartime(crypto_bigint::Odd::new(n.clone()).unwrap());
        let two = BoxedMontyForm::new(BoxedUint::from(2u64).resize(n.bits_precision()), &params);
        let r = two.pow(&n.wrapping_sub(BoxedUint::from(1u64))).retrieve();
        r == BoxedUint::one_with_precision(n.bits_precision())
    }

    #[test]
    fn agrees_with_an_independent_modular_exponentiation() {
        // Consecutive odd numbers with the top bit set at every supported size, starting at a
        // prime (so at least one passes): primes, composites and any base-2 pseudoprimes among
        // them are all judged the same way.
        let mut rng = rand::rng();
        for bits in [512u32, 1024, 1536, 2048] {
            let mut n: BoxedUint =
                crypto_primes::random_prime(&mut rng, crypto_primes::Flavor::Any, bits);
            let mut passed = 0;
            let tries = if bits <= 1024 { 300 } else { 40 };
            for _ in 0..tries {
                let expected = oracle(&n);
                passed += usize::from(expected);
                assert_eq!(
                    base2_probable_prime(n.as_words()),
                    Some(expected),
                    "{bits}-bit n = {n}"
                );
                n = n.wrapping_add(BoxedUint::from(2u64));
            }
            assert!(passed > 0, "the walk starts at a prime");
            assert!(passed < tries, "most odd numbers are composite");
        }
    }

    #[test]
    fn passes_primes_and_rejects_products_at_rsa_sizes() {
        let mut rng = rand::rng();
        for bits in [1024u32, 2048] {
            let p: BoxedUint =
                crypto_primes::random_prime(&mut rng, crypto_primes::Flavor::Any, bits);
            assert_eq!(base2_probable_prime(p.as_words()), Some(true));
            // An odd composite of the same size: p·3 shifted down would change primality
            // unpredictably, so use p+2 when crypto-primes says it is composite.
            let q = p.wrapping_add(BoxedUint::from(2u64));
            if !crypto_primes::is_prime(crypto_primes::Flavor::Any, &q) {
                assert_eq!(base2_probable_prime(q.as_words()), Some(false));
            }
        }
    }

    #[test]
    fn declines_inputs_it_does_not_handle() {
        assert_eq!(base2_probable_prime(&[]), None);
        assert_eq!(base2_probable_prime(&[4, 1 << 63]), None);
        assert_eq!(base2_probable_prime(&[5, 1]), None);
        assert_eq!(base2_probable_prime(&[1u64 | 1 << 63; 40]), None);
    }
}
