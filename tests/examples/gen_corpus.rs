//! Writes the benchmark corpus: `gen-corpus DIR [N]` writes N Deployments (default 2000),
//! one file each, plus `all.yaml` holding all of them as one stream.

use std::path::PathBuf;

fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let dir = PathBuf::from(args.next().unwrap_or_else(|| "target/corpus".into()));
    let n: usize = args
        .next()
        .map_or(2000, |s| s.parse().expect("N is a number"));
    std::fs::create_dir_all(dir.join("split"))?;
    for i in 0..n {
        std::fs::write(
            dir.join("split").join(format!("deploy-{i:05}.yaml")),
            portcullis_tests::corpus::deployment(i),
        )?;
    }
    std::fs::write(dir.join("all.yaml"), portcullis_tests::corpus::stream(n))?;
    println!("wrote {n} Deployments to {}", dir.display());
    Ok(())
}
