//! `alphalab sweep --ray` on a real 2-node Ray 2.60.0 cluster on this machine's loopback
//! (scripts/ray/localcluster.py): the same ranking and variant files as the local sweep, byte for
//! byte, with variants on both nodes; a worker node killed mid-sweep loses nothing. The Ray venv
//! is `ALPHALAB_RAY_PYTHON`, else `target/ray-venv`, else created once under cargo's target
//! folder from scripts/ray/requirements.txt (pyenv's Python 3.12.1).

mod common;

use std::{
    collections::BTreeMap,
    io::{BufRead, BufReader, Write},
    path::{Path, PathBuf},
    process::{Child, ChildStdin, ChildStdout, Command, Output, Stdio},
};

use serde_json::Value;

fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn run(cmd: &mut Command) {
    let what = format!("{cmd:?}");
    let out = cmd.output().unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(out.status.success(), "{what}: {}", String::from_utf8_lossy(&out.stderr));
}

/// A python with ray 2.60.0.
fn ray_python() -> PathBuf {
    let has_ray = |py: &Path| {
        Command::new(py)
            .args(["-c", "import ray, sys; sys.exit(ray.__version__ != '2.60.0')"])
            .status()
            .is_ok_and(|s| s.success())
    };
    if let Some(p) = std::env::var_os("ALPHALAB_RAY_PYTHON").filter(|p| !p.is_empty()) {
        return PathBuf::from(p);
    }
    let venv = workspace().join("target/ray-venv/bin/python");
    if has_ray(&venv) {
        return venv;
    }
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("ray-venv");
    let py = dir.join("bin/python");
    if !has_ray(&py) {
        run(Command::new("python3.12").env("PYENV_VERSION", "3.12.1").args(["-m", "venv", "--clear"]).arg(&dir));
        let req = workspace().join("scripts/ray/requirements.txt");
        run(Command::new(dir.join("bin/pip"))
            .args(["install", "--quiet", "-r"])
            .arg(req)
            .current_dir(workspace().join("scripts/ray")));
    }
    py
}

/// A 2-node cluster (1 CPU each), torn down when dropped (end of its stdin).
struct Cluster {
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: BufReader<ChildStdout>,
    address: String,
}

impl Cluster {
    fn up(py: &Path) -> Self {
        let mut child = Command::new(py)
            .arg(workspace().join("scripts/ray/localcluster.py"))
            .args(["up", "--stdin", "--cpus", "1", "1"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let stdin = child.stdin.take();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut address = String::new();
        stdout.read_line(&mut address).unwrap();
        assert!(address.contains(':'), "no cluster address: {address:?}");
        Self { child, stdin, stdout, address: address.trim().to_string() }
    }

    fn ask(&mut self, command: &str) -> String {
        writeln!(self.stdin.as_mut().unwrap(), "{command}").unwrap();
        let mut line = String::new();
        self.stdout.read_line(&mut line).unwrap();
        line.trim().to_string()
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        drop(self.stdin.take());
        let _ = self.child.wait();
    }
}

/// A catalog of one day of ADABTC 1m bars (test_data), and a sweep file of 8 buy-and-hold
/// variants (one with a bad parameter) over it, writing into `out`.
fn sweep_file(dir: &Path, out: &Path) -> PathBuf {
    let (root, catalog, tree) = (dir.join("root"), dir.join("catalog"), dir.join("tree"));
    common::put(&tree, common::ADABTC_REL, &common::adabtc_csv(), None);
    common::seed_exchange_info(&root);
    let o = common::import(&root, &catalog, &[tree.join("data").to_str().unwrap()]);
    assert!(o.status.success(), "{}", common::text(&o));
    let file = dir.join("sweep.toml");
    std::fs::write(
        &file,
        format!(
            r#"rank_by = "total_return"
output = {out:?}

[base]
catalog = {catalog:?}
instruments = ["ADABTC.BINANCE"]
bar_types = ["ADABTC.BINANCE-1-MINUTE-LAST-EXTERNAL"]
reporting_currency = "BTC"

[base.venue]
kind = "spot"
starting_balances = {{ BTC = "1" }}

[base.strategy]
name = "buy-and-hold"
params = {{ instrument_id = "ADABTC.BINANCE" }}

[grid]
fraction = ["0.1", "0.2", "0.3", "0.4", "0.5", "0.6", "0.7", "bad"]
"#
        ),
    )
    .unwrap();
    file
}

fn alphalab(args: &[&str], env: &[(&str, &Path)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_alphalab"));
    cmd.args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

/// Every file of a sweep folder but the Ray sweep's own (plan, manifest, run files, logs).
fn tree(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            let rel = p.strip_prefix(dir).unwrap().to_string_lossy().into_owned();
            if rel == "ray" || rel.starts_with("ray-") || rel.ends_with("alphalab.log") {
                continue;
            }
            if p.is_dir() {
                stack.push(p);
            } else {
                out.insert(rel, std::fs::read(&p).unwrap());
            }
        }
    }
    out
}

/// A sweep file, its output folder, the local sweep's files, the Ray sweep's environment.
type Prepared = (PathBuf, PathBuf, BTreeMap<String, Vec<u8>>, Vec<(&'static str, PathBuf)>);

/// The local sweep's folder, moved aside to `out-local`, and the Ray sweep's env: its Python,
/// and a binary that takes 1.5 s longer per variant (so a node can be killed mid-task).
fn local_then_ray_env(name: &str) -> Prepared {
    let dir = common::fresh_dir(name);
    let out = dir.join("out");
    let file = sweep_file(&dir, &out);
    let local = alphalab(&["sweep", file.to_str().unwrap(), "--threads", "2"], &[]);
    assert_eq!(local.status.code(), Some(1), "one variant fails: {}", common::text(&local));
    let local_files = tree(&out);
    std::fs::rename(&out, dir.join("out-local")).unwrap();
    let slow = dir.join("slow-alphalab.sh");
    std::fs::write(&slow, format!("#!/bin/sh\nsleep 1.5\nexec {:?} \"$@\"\n", env!("CARGO_BIN_EXE_alphalab"))).unwrap();
    run(Command::new("chmod").arg("755").arg(&slow));
    let env = vec![("ALPHALAB_RAY_PYTHON", ray_python()), ("ALPHALAB_RAY_BINARY", slow)];
    (file, out, local_files, env)
}

fn manifest(out: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(out.join("ray-manifest.json")).unwrap()).unwrap()
}

fn env_refs<'a>(env: &'a [(&'static str, PathBuf)]) -> Vec<(&'static str, &'a Path)> {
    env.iter().map(|(k, v)| (*k, v.as_path())).collect()
}

#[test]
fn a_sweep_on_two_ray_nodes_equals_the_local_sweep_byte_for_byte() {
    let (file, out, local_files, env) = local_then_ray_env("ray-identical");
    let mut cluster = Cluster::up(&env[0].1);
    let nodes = [cluster.ask("node-id 0"), cluster.ask("node-id 1")];
    let o = alphalab(&["sweep", file.to_str().unwrap(), "--ray", &cluster.address.clone()], &env_refs(&env));
    assert_eq!(o.status.code(), Some(1), "one variant fails: {}", common::text(&o));
    let m = manifest(&out);
    let ran: std::collections::BTreeSet<&str> =
        m["variants"].as_array().unwrap().iter().filter_map(|v| v["node_id"].as_str()).collect();
    assert!(nodes.iter().all(|n| ran.contains(n.as_str())), "variants ran on {ran:?}, nodes {nodes:?}");
    let ray_files = tree(&out);
    assert_eq!(local_files.keys().collect::<Vec<_>>(), ray_files.keys().collect::<Vec<_>>());
    for (k, v) in &local_files {
        assert!(v == &ray_files[k], "{k} differs between the local and the Ray sweep");
    }
    // seven ranked variants, the bad one last with its error
    let ranking: Value = serde_json::from_slice(&ray_files["ranking.json"]).unwrap();
    let rows = ranking["ranking"].as_array().unwrap();
    assert_eq!(rows.len(), 8, "{ranking}");
    assert!(rows[..7].iter().all(|r| r["stats"].is_object() && r["error"].is_null()), "{ranking}");
    assert!(rows[7]["error"].as_str().unwrap().starts_with("strategy buy-and-hold"), "{ranking}");
}

#[test]
fn a_worker_node_killed_mid_sweep_loses_nothing() {
    let (file, out, local_files, env) = local_then_ray_env("ray-kill");
    let mut cluster = Cluster::up(&env[0].1);
    let address = cluster.address.clone();
    let (file2, env2) = (file.clone(), env.clone());
    let sweep =
        std::thread::spawn(move || alphalab(&["sweep", file2.to_str().unwrap(), "--ray", &address], &env_refs(&env2)));
    // as soon as node 1 runs a variant's backtest, the whole node dies
    let answer = cluster.ask("kill-node 1 --results-only");
    assert!(answer.starts_with("killed "), "{answer}");
    let o = sweep.join().unwrap();
    assert_eq!(o.status.code(), Some(1), "one variant fails, none is lost: {}", common::text(&o));
    let m = manifest(&out);
    assert!(m["retries"].as_u64().unwrap() >= 1, "{m}");
    assert!(m["variants"].as_array().unwrap().iter().all(|v| v["status"] != "lost"), "{m}");
    let ray_files = tree(&out);
    for (k, v) in &local_files {
        assert!(ray_files.get(k) == Some(v), "{k} differs or is missing after the node died");
    }
    assert_eq!(local_files.len(), ray_files.len());
}

/// The driver's own tests (scripts/ray/test_sweep.py: grid and search modes, a failing variant,
/// node and head deaths, with a fake `alphalab`), run here so that the one test command covers
/// them.
#[test]
fn the_ray_driver_passes_its_own_tests() {
    let out = Command::new(ray_python())
        .arg(workspace().join("scripts/ray/test_sweep.py"))
        .current_dir(workspace())
        .output()
        .unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{text}");
    assert!(text.contains(" passed, 0 failed"), "{text}");
}

#[test]
fn a_tpe_search_on_ray_ranks_its_trials_and_says_which_sampler_chose_each() {
    let dir = common::fresh_dir("ray-search");
    let out = dir.join("out");
    let grid = sweep_file(&dir, &out);
    let text = std::fs::read_to_string(&grid).unwrap();
    let start = text.find("[grid]").unwrap();
    let search = format!(
        "{}[search]\nmethod = \"tpe\"\ntrials = 6\nseed = 3\n\n[search.space]\nfraction = {{ low = 0.05, high = 0.95 }}\n",
        &text[..start]
    );
    let file = dir.join("search.toml");
    std::fs::write(&file, search).unwrap();
    // without a cluster, a search is refused with what to do
    let local = alphalab(&["sweep", file.to_str().unwrap()], &[]);
    assert_eq!(local.status.code(), Some(2));
    assert!(common::text(&local).contains("add --ray ADDRESS"), "{}", common::text(&local));
    let py = ray_python();
    let cluster = Cluster::up(&py);
    let o = alphalab(&["sweep", file.to_str().unwrap(), "--ray", &cluster.address], &[("ALPHALAB_RAY_PYTHON", &py)]);
    assert!(o.status.success(), "{}", common::text(&o));
    let ranking: Value = serde_json::from_slice(&std::fs::read(out.join("ranking.json")).unwrap()).unwrap();
    let rows = ranking["ranking"].as_array().unwrap();
    assert_eq!(rows.len(), 6, "{ranking}");
    // TPE's first trials are random (its startup), the rest chosen by TPE
    let by: Vec<&str> = rows.iter().map(|r| r["chosen_by"].as_str().unwrap()).collect();
    assert!(by.contains(&"random") && by.contains(&"tpe"), "{by:?}");
    for r in rows {
        let f = r["grid"]["fraction"].as_f64().unwrap();
        assert!((0.05..=0.95).contains(&f) && r["stats"].is_object(), "{r}");
        let v = r["variant"].as_u64().unwrap();
        let run = std::fs::read_to_string(out.join(format!("variants/{v:04}/run.toml"))).unwrap();
        assert!(run.contains(&format!("fraction = {f}")), "{run}");
    }
    // ranked best first by total_return, the sampler shown in the CSV and the report
    let rets: Vec<f64> = rows.iter().map(|r| r["stats"]["total_return"].as_f64().unwrap()).collect();
    assert!(rets.windows(2).all(|w| w[0] >= w[1]), "{rets:?}");
    assert!(std::fs::read_to_string(out.join("ranking.csv")).unwrap().starts_with("rank,variant,fraction,chosen_by,"));
    assert!(std::fs::read_to_string(out.join("report.html")).unwrap().contains("chosen by"));
}
