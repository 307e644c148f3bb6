//! Random ids and secrets, below everything that names things (storage, accounts, jobs).

/// `bytes` random bytes from the OS, as lower-case hex.
pub fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    getrandom::fill(&mut buf).expect("the operating system's random source failed");
    buf.iter().map(|b| format!("{b:02x}")).collect()
}

/// A new random id (96 bits, hex): unguessable, so ids leak nothing about other users.
pub fn new_id() -> String {
    random_hex(12)
}
