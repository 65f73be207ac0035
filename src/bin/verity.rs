fn main() { println!("verity {}", verity::version()); }
