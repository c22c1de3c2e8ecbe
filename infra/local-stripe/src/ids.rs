//! Stripe-shaped object ids: a prefix and 24 random alphanumerics (`cus_…`, `sub_…`, `in_…`).

const ALPHABET: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

pub fn new(prefix: &str) -> String {
    let mut bytes = [0u8; 24];
    getrandom::fill(&mut bytes).expect("the operating system's random source is available");
    let mut id = String::with_capacity(prefix.len() + 1 + bytes.len());
    id.push_str(prefix);
    id.push('_');
    // 256 is not a multiple of 62: the slight bias does not matter for local ids.
    id.extend(
        bytes
            .iter()
            .map(|b| ALPHABET[usize::from(*b) % ALPHABET.len()] as char),
    );
    id
}

/// A secret in Stripe's `<id>_secret_<random>` form (PaymentIntent client secrets).
pub fn secret_for(id: &str) -> String {
    let random = new("x");
    format!("{id}_secret_{}", &random[2..])
}

#[cfg(test)]
mod tests {
    #[test]
    fn ids_have_the_prefix_and_differ() {
        let a = super::new("cus");
        let b = super::new("cus");
        assert!(a.starts_with("cus_") && a.len() == 28, "{a}");
        assert_ne!(a, b);
        assert!(super::secret_for("pi_1").starts_with("pi_1_secret_"));
    }
}
