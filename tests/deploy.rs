//! Nothing in `deploy/` or `k8s/` is decorative: every file is parsed or rendered here, and
//! checked against what the code really reads and serves.
//!
//! - the compose file: images built by it or pinned, `CAREBILL_*` names the configuration
//!   reads, interpolated variables documented with defaults, mounted files present;
//! - the gateway (nginx) and the Kubernetes Ingress route every path of every service's own
//!   OpenAPI document to that service;
//! - every kustomize overlay renders and validates offline (`scripts/check-k8s.sh`), and the
//!   rendered Deployments, Jobs and NetworkPolicies give each service its own database only.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use carebill_platform::config::Config;
use carebill_suite::openapi::paths_by_service;
use carebill_suite::server::SERVICES;
use serde_yaml_ng::Value;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn read(rel: &str) -> String {
    std::fs::read_to_string(root().join(rel)).unwrap_or_else(|e| panic!("reading {rel}: {e}"))
}

/// Every environment variable the configuration reads, asked of it rather than listed here.
fn known_settings() -> BTreeSet<String> {
    let asked = std::cell::RefCell::new(BTreeSet::from(["CAREBILL_CONFIG".to_owned()]));
    for service in SERVICES.iter().map(|s| Some(*s)).chain([None]) {
        Config::load(None, service, &|k| {
            asked.borrow_mut().insert(k.to_owned());
            None
        })
        .expect("defaults load");
    }
    asked.into_inner()
}

fn yaml(text: &str) -> Value {
    let mut v: Value = serde_yaml_ng::from_str(text).expect("valid YAML");
    v.apply_merge().expect("merge keys resolve");
    v
}

fn str_of(v: &Value) -> &str {
    v.as_str().unwrap_or_default()
}

/// `${NAME}`, `${NAME:-default}`, `${NAME:?message}` interpolations in a compose text:
/// name → has a default.
fn interpolations(text: &str) -> BTreeMap<String, bool> {
    let mut found = BTreeMap::new();
    let mut rest = text;
    while let Some(i) = rest.find("${") {
        rest = &rest[i + 2..];
        let end = rest.find('}').expect("closed interpolation");
        let inner = &rest[..end];
        let name: String = inner
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        let defaulted = inner[name.len()..].starts_with(":-");
        let e = found.entry(name).or_insert(true);
        *e &= defaulted;
        rest = &rest[end..];
    }
    found
}

#[test]
fn the_compose_file_uses_only_known_images_settings_and_files() {
    let text = read("deploy/compose.yaml");
    let compose = yaml(&text);
    let services = compose["services"].as_mapping().expect("services");
    let settings = known_settings();
    let documented = read("deploy/env.example");

    // Interpolated variables all have a default and are explained in env.example.
    let vars = interpolations(&text);
    assert!(vars.contains_key("IMAGE_TAG"), "{vars:?}");
    for (name, defaulted) in &vars {
        assert!(defaulted, "${{{name}}} has no default in compose.yaml");
        assert!(
            documented.contains(&format!("\n{name}=")),
            "{name} is not documented in deploy/env.example"
        );
        assert!(
            !name.starts_with("CAREBILL_"),
            "{name}: interpolation variables are not settings; keep CAREBILL_ for the binary"
        );
    }

    let mut built = 0;
    for (name, svc) in services {
        let name = str_of(name);
        let image = str_of(&svc["image"]);
        if image.starts_with("carebill:") {
            // Our image: built by this file from the Dockerfile that exists.
            if !svc["build"].is_null() {
                built += 1;
                let dockerfile = str_of(&svc["build"]["dockerfile"]);
                let context = str_of(&svc["build"]["context"]);
                assert!(
                    root()
                        .join("deploy")
                        .join(context)
                        .join(dockerfile)
                        .is_file(),
                    "{name}: build {context}/{dockerfile} does not exist"
                );
            }
        } else {
            // Someone else's: pinned to a version, never a moving tag.
            let (_, tag) = image.rsplit_once(':').unwrap_or((image, ""));
            assert!(
                tag.chars().next().is_some_and(|c| c.is_ascii_digit()) && tag.contains('.'),
                "{name}: image {image} is not pinned to a version"
            );
        }
        // Carebill settings are names the configuration reads.
        if let Some(env) = svc["environment"].as_mapping() {
            for (k, v) in env {
                let k = str_of(k);
                if k.starts_with("CAREBILL_") {
                    assert!(
                        settings.contains(k),
                        "{name}: {k} is not a setting Carebill reads"
                    );
                    assert!(!str_of(v).is_empty() || v.is_number(), "{name}: {k} empty");
                }
            }
        }
        // Mounted files exist.
        for vol in svc["volumes"].as_sequence().into_iter().flatten() {
            let src = str_of(vol).split(':').next().unwrap_or_default();
            if src.starts_with("./") {
                assert!(
                    root().join("deploy").join(src).exists(),
                    "{name}: mounts {src}, which does not exist"
                );
            }
        }
    }
    assert_eq!(built, 1, "the carebill image is built once");

    // Every service runs from the image with its own database URL and the broker.
    for service in SERVICES {
        let svc = &compose["services"][*service];
        assert!(str_of(&svc["image"]).starts_with("carebill:"), "{service}");
        let cmd: Vec<&str> = svc["command"]
            .as_sequence()
            .expect("command")
            .iter()
            .map(str_of)
            .collect();
        assert_eq!(cmd, ["serve", "--service", service]);
        let env = &svc["environment"];
        let url_var = format!("CAREBILL_{}_DATABASE_URL", service.to_ascii_uppercase());
        let url = str_of(&env[url_var.as_str()]);
        assert!(
            url.starts_with("postgres://") && url.ends_with(&format!("/{service}")),
            "{service}: {url_var}={url}"
        );
        assert!(str_of(&env["CAREBILL_AMQP_URL"]).starts_with("amqp://"));
        let secret = str_of(&env["CAREBILL_JWT_SECRET_FILE"]);
        assert!(secret.starts_with("/run/secrets/"), "{service}: {secret}");
    }
    // The secret file is the user's, never committed.
    let secret_file = str_of(&compose["secrets"]["jwt-secret"]["file"]);
    assert_eq!(secret_file, "./secrets/jwt-secret");
    assert!(read(".gitignore").lines().any(|l| l == "deploy/secrets/"));

    // The databases the init script creates are the services'.
    let init = read("deploy/postgres/init-databases.sh");
    assert!(
        init.contains(&format!("for svc in {}; do", SERVICES.join(" "))),
        "init-databases.sh must create one database per service"
    );

    // The gateway reaches the services by their compose names.
    let gateway = read("deploy/nginx.conf");
    for service in SERVICES {
        assert!(gateway.contains(&format!("set ${service} http://{service}:8080;")));
    }
}

#[test]
fn the_example_configuration_is_valid_and_names_every_setting() {
    let path = root().join("deploy/carebill.example.toml");
    let cfg = Config::load(Some(&path), Some("accounts"), &|_| None)
        .unwrap_or_else(|e| panic!("deploy/carebill.example.toml: {e}"));
    assert_eq!(cfg.bind, "0.0.0.0:8080");
    let text = read("deploy/carebill.example.toml");
    for setting in known_settings() {
        assert!(
            text.contains(&setting),
            "deploy/carebill.example.toml does not document {setting}"
        );
    }
    // ... and the configuration page's table names every one of them too.
    let page = read("docs/operations/configuration.md");
    for setting in known_settings()
        .iter()
        .filter(|s| !s.ends_with("_DATABASE_URL") || *s == "CAREBILL_DATABASE_URL")
    {
        assert!(
            page.contains(setting.as_str()),
            "docs/operations/configuration.md does not document {setting}"
        );
    }
}

/// The request path an OpenAPI path template stands for (`{id}` → `x`).
fn concrete(template: &str) -> String {
    let mut out = String::new();
    let mut in_param = false;
    for c in template.chars() {
        match c {
            '{' => in_param = true,
            '}' => {
                in_param = false;
                out.push('x');
            }
            _ if in_param => {}
            _ => out.push(c),
        }
    }
    out
}

/// nginx's choice among `location = P`, `location ^~ P` and `location P` blocks, each with
/// `proxy_pass $<service>`: an exact match, else the longest prefix.
fn nginx_route(conf: &str, path: &str) -> Option<String> {
    let mut best: Option<(usize, String)> = None;
    for line in conf.lines().map(str::trim) {
        let Some(rest) = line.strip_prefix("location ") else {
            continue;
        };
        let (exact, rest) = match rest.split_once(' ') {
            Some(("=", r)) => (true, r),
            Some(("^~", r)) => (false, r),
            _ => (false, rest),
        };
        let prefix = rest.split_whitespace().next().unwrap_or_default();
        let target = line
            .split("proxy_pass $")
            .nth(1)
            .and_then(|t| t.split(';').next())
            .unwrap_or_default()
            .to_owned();
        if exact {
            if path == prefix {
                return Some(target);
            }
        } else if path.starts_with(prefix) && best.as_ref().is_none_or(|(l, _)| prefix.len() > *l) {
            best = Some((prefix.len(), target));
        }
    }
    best.map(|(_, t)| t)
}

/// Kubernetes `Prefix` matching: element-wise, the longest path wins.
fn ingress_route(paths: &[(String, String)], path: &str) -> Option<String> {
    paths
        .iter()
        .filter(|(prefix, _)| {
            let p = prefix.trim_end_matches('/');
            p.is_empty() || path == p || path.starts_with(&format!("{p}/"))
        })
        .max_by_key(|(prefix, _)| prefix.trim_end_matches('/').len())
        .map(|(_, svc)| svc.clone())
}

#[test]
fn the_gateway_routes_every_path_to_the_service_that_serves_it() {
    let conf = read("deploy/nginx.conf");
    let mut checked = 0;
    for (service, paths) in paths_by_service() {
        assert!(!paths.is_empty(), "{service} declares no paths");
        for template in paths {
            let path = concrete(&template);
            assert_eq!(
                nginx_route(&conf, &path).as_deref(),
                Some(service),
                "nginx sends {template} elsewhere"
            );
            checked += 1;
        }
    }
    // The operational endpoints and the merged document answer through the gateway too.
    for path in ["/openapi.json", "/docs/", "/health/ready"] {
        assert_eq!(nginx_route(&conf, path).as_deref(), Some("accounts"));
    }
    assert!(checked > 30, "only {checked} paths");
}

/// Renders every overlay with `scripts/check-k8s.sh` (which also validates them offline) and
/// returns overlay → documents.
fn rendered_overlays() -> BTreeMap<String, Vec<Value>> {
    let out = tempfile::tempdir().expect("tempdir");
    let status = Command::new("bash")
        .arg(root().join("scripts/check-k8s.sh"))
        .arg(out.path())
        .current_dir(root())
        .status()
        .expect("running scripts/check-k8s.sh");
    assert!(status.success(), "scripts/check-k8s.sh failed: {status}");
    let mut overlays = BTreeMap::new();
    for entry in std::fs::read_dir(root().join("k8s/overlays")).expect("k8s/overlays") {
        let name = entry
            .expect("entry")
            .file_name()
            .to_string_lossy()
            .into_owned();
        let text = std::fs::read_to_string(out.path().join(format!("{name}.yaml")))
            .unwrap_or_else(|e| panic!("{name} was not rendered: {e}"));
        let docs: Vec<Value> = serde_yaml_ng::Deserializer::from_str(&text)
            .map(|d| serde::Deserialize::deserialize(d).expect("rendered YAML"))
            .filter(|v: &Value| !v.is_null())
            .collect();
        overlays.insert(name, docs);
    }
    assert!(
        overlays.contains_key("dev") && overlays.contains_key("production"),
        "{:?}",
        overlays.keys()
    );
    overlays
}

fn of_kind<'a>(docs: &'a [Value], kind: &str) -> Vec<&'a Value> {
    docs.iter().filter(|d| str_of(&d["kind"]) == kind).collect()
}

fn named<'a>(docs: &'a [Value], kind: &str, name: &str) -> &'a Value {
    of_kind(docs, kind)
        .into_iter()
        .find(|d| str_of(&d["metadata"]["name"]) == name)
        .unwrap_or_else(|| panic!("no {kind} {name}"))
}

/// The pod spec's one container's environment variable names, and the secret each
/// `CAREBILL_*_DATABASE_URL` comes from.
fn env_of(pod: &Value) -> (Vec<String>, BTreeMap<String, String>) {
    let mut names = Vec::new();
    let mut secrets = BTreeMap::new();
    for c in pod["containers"].as_sequence().expect("containers") {
        for e in c["env"].as_sequence().into_iter().flatten() {
            let name = str_of(&e["name"]).to_owned();
            let secret = str_of(&e["valueFrom"]["secretKeyRef"]["name"]);
            if !secret.is_empty() {
                secrets.insert(name.clone(), secret.to_owned());
            }
            names.push(name);
        }
    }
    (names, secrets)
}

#[test]
fn every_kubernetes_overlay_renders_validates_and_isolates_the_databases() {
    let settings = known_settings();
    for (overlay, docs) in rendered_overlays() {
        let config: BTreeSet<String> = of_kind(&docs, "ConfigMap")
            .iter()
            .flat_map(|c| c["data"].as_mapping().into_iter().flatten())
            .map(|(k, _)| str_of(k).to_owned())
            .collect();
        for k in config.iter().filter(|k| k.starts_with("CAREBILL_")) {
            assert!(
                settings.contains(k),
                "{overlay}: ConfigMap sets {k}, which Carebill does not read"
            );
        }
        for service in SERVICES {
            let name = format!("carebill-{service}");
            let deploy = named(&docs, "Deployment", &name);
            let pod = &deploy["spec"]["template"]["spec"];
            let container = &pod["containers"][0];
            let args: Vec<&str> = container["args"]
                .as_sequence()
                .or_else(|| container["command"].as_sequence())
                .expect("args")
                .iter()
                .map(str_of)
                .collect();
            assert!(
                args.windows(3)
                    .any(|w| w == ["serve", "--service", service]),
                "{overlay}/{name}: {args:?}"
            );
            for probe in ["readinessProbe", "livenessProbe"] {
                assert!(
                    str_of(&container[probe]["httpGet"]["path"]).starts_with("/health/"),
                    "{overlay}/{name}: {probe}"
                );
            }
            assert_eq!(container["securityContext"]["readOnlyRootFilesystem"], true);
            assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
            let (env, secrets) = env_of(pod);
            for k in env.iter().filter(|k| k.starts_with("CAREBILL_")) {
                assert!(
                    settings.contains(k),
                    "{overlay}/{name}: {k} is not a setting"
                );
            }
            // Its own database, and no other service's.
            let own = format!("CAREBILL_{}_DATABASE_URL", service.to_ascii_uppercase());
            assert_eq!(
                secrets.get(&own).map(String::as_str),
                Some(format!("carebill-{service}-db-app").as_str()),
                "{overlay}/{name}"
            );
            for other in SERVICES.iter().filter(|o| *o != service) {
                assert!(
                    !secrets.values().any(|s| s.contains(&format!("-{other}-"))),
                    "{overlay}/{name} reads {other}'s secret"
                );
            }
            // The migration job runs the same binary for the same database.
            let job = named(&docs, "Job", &format!("carebill-migrate-{service}"));
            let jpod = &job["spec"]["template"]["spec"];
            let jargs: Vec<&str> = jpod["containers"][0]["args"]
                .as_sequence()
                .expect("job args")
                .iter()
                .map(str_of)
                .collect();
            assert_eq!(jargs, ["migrate", "--service", service], "{overlay}");
            assert_eq!(env_of(jpod).1.get(&own), secrets.get(&own), "{overlay}");
            for kind in ["Service", "HorizontalPodAutoscaler", "PodDisruptionBudget"] {
                named(&docs, kind, &name);
            }
            // The service's egress reaches its own database cluster and no other.
            let policies = of_kind(&docs, "NetworkPolicy");
            let egress_to: Vec<String> = policies
                .iter()
                .filter(|p| {
                    str_of(&p["spec"]["podSelector"]["matchLabels"]["app.kubernetes.io/name"])
                        == name
                })
                .flat_map(|p| p["spec"]["egress"].as_sequence().into_iter().flatten())
                .flat_map(|rule| rule["to"].as_sequence().into_iter().flatten())
                .map(|peer| {
                    str_of(&peer["podSelector"]["matchLabels"]["cnpg.io/cluster"]).to_owned()
                })
                .filter(|c| !c.is_empty())
                .collect();
            assert_eq!(
                egress_to,
                [format!("carebill-{service}-db")],
                "{overlay}/{name} egress"
            );
        }
        // Default deny for Carebill's pods.
        assert!(
            of_kind(&docs, "NetworkPolicy").iter().any(|p| {
                let types: Vec<&str> = p["spec"]["policyTypes"]
                    .as_sequence()
                    .into_iter()
                    .flatten()
                    .map(str_of)
                    .collect();
                types.contains(&"Ingress")
                    && types.contains(&"Egress")
                    && p["spec"]["ingress"].is_null()
                    && p["spec"]["egress"].is_null()
            }),
            "{overlay}: no default-deny policy"
        );
        // The operators' resources stand for PostgreSQL and RabbitMQ.
        for service in SERVICES {
            named(&docs, "Cluster", &format!("carebill-{service}-db"));
        }
        named(&docs, "RabbitmqCluster", "carebill-rabbitmq");
        assert!(
            of_kind(&docs, "StatefulSet").is_empty(),
            "{overlay}: hand-written StatefulSet"
        );

        // The Ingress sends every service's paths to it.
        let ingress = named(&docs, "Ingress", "carebill");
        let routes: Vec<(String, String)> = ingress["spec"]["rules"]
            .as_sequence()
            .expect("rules")
            .iter()
            .flat_map(|r| r["http"]["paths"].as_sequence().into_iter().flatten())
            .map(|p| {
                // ImplementationSpecific only where ingress-nginx refuses a dot in a Prefix
                // path; it treats it as a prefix too.
                let kind = str_of(&p["pathType"]);
                assert!(
                    kind == "Prefix"
                        || (kind == "ImplementationSpecific" && str_of(&p["path"]).contains('.')),
                    "{overlay}: {kind} path {}",
                    str_of(&p["path"])
                );
                let svc = str_of(&p["backend"]["service"]["name"]);
                (
                    str_of(&p["path"]).to_owned(),
                    svc.trim_start_matches("carebill-").to_owned(),
                )
            })
            .collect();
        for (service, paths) in paths_by_service() {
            for template in paths {
                assert_eq!(
                    ingress_route(&routes, &concrete(&template)).as_deref(),
                    Some(service),
                    "{overlay}: the Ingress sends {template} elsewhere"
                );
            }
        }
        assert_eq!(
            ingress_route(&routes, "/openapi.json").as_deref(),
            Some("accounts")
        );
    }
}

/// Every file under k8s/ is used by a kustomization (or is a schema the checker uses).
#[test]
fn nothing_in_k8s_is_decorative() {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for e in std::fs::read_dir(dir).expect("dir").flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(&p, out);
            } else {
                out.push(p);
            }
        }
    }
    let k8s = root().join("k8s");
    let mut files = Vec::new();
    walk(&k8s, &mut files);
    let checker = read("scripts/check-k8s.sh");
    let mut referenced = BTreeSet::new();
    for f in files
        .iter()
        .filter(|f| f.file_name().is_some_and(|n| n == "kustomization.yaml"))
    {
        let dir = f.parent().expect("parent");
        let k = yaml(&std::fs::read_to_string(f).expect("kustomization"));
        let mut refs = Vec::new();
        for key in ["resources", "components", "patches", "configurations"] {
            for item in k[key].as_sequence().into_iter().flatten() {
                refs.push(if item.is_string() {
                    str_of(item)
                } else {
                    str_of(&item["path"])
                });
            }
        }
        for generator in k["configMapGenerator"].as_sequence().into_iter().flatten() {
            for file in generator["files"].as_sequence().into_iter().flatten() {
                refs.push(str_of(file).rsplit('=').next().unwrap_or_default());
            }
        }
        for r in refs.into_iter().filter(|r| !r.is_empty()) {
            let p = dir.join(r);
            let p = if p.is_dir() {
                p.join("kustomization.yaml")
            } else {
                p
            };
            referenced.insert(
                p.canonicalize()
                    .unwrap_or_else(|_| panic!("{} refers to missing {r}", f.display())),
            );
        }
    }
    for f in &files {
        let rel = f.strip_prefix(root().join("k8s")).expect("under k8s");
        let canon = f.canonicalize().expect("canonical");
        let is_root_kustomization = rel.parent().is_some_and(|p| p.starts_with("overlays"))
            && f.file_name().is_some_and(|n| n == "kustomization.yaml");
        let used = referenced.contains(&canon)
            || is_root_kustomization
            || (rel.starts_with("schemas") && checker.contains(&rel.to_string_lossy().to_string()))
            || rel.extension().is_some_and(|e| e == "md");
        assert!(
            used,
            "k8s/{} is not used by any kustomization",
            rel.display()
        );
    }
}

/// The relative link targets of a Markdown text, without their `#anchor`: inline links and
/// images (`[text](target)`) and reference definitions (`[label]: target`), outside fenced code
/// blocks and code spans. Web and mail links, and links to an anchor of the same page, are left
/// out.
fn relative_links(markdown: &str) -> Vec<String> {
    let mut prose = String::new();
    let mut fenced = false;
    for line in markdown.lines() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
        } else if !fenced {
            prose.push_str(line);
            prose.push('\n');
        }
    }
    // Code spans may wrap over lines: drop every other stretch between backticks.
    let prose: String = prose.split('`').step_by(2).collect::<Vec<_>>().join(" ");
    let mut targets = Vec::new();
    let mut rest = prose.as_str();
    while let Some(i) = rest.find("](") {
        rest = &rest[i + 2..];
        let end = rest.find(')').unwrap_or(rest.len());
        targets.push(&rest[..end]);
        rest = &rest[end..];
    }
    for line in prose.lines() {
        let line = line.trim_start();
        if line.starts_with('[')
            && let Some((_, target)) = line.split_once("]: ")
        {
            targets.push(target);
        }
    }
    targets
        .into_iter()
        .filter_map(|t| t.split_whitespace().next())
        .map(|t| t.trim_start_matches('<').trim_end_matches('>'))
        .filter(|t| {
            !["http://", "https://", "mailto:"]
                .iter()
                .any(|s| t.starts_with(s))
        })
        .map(|t| t.split_once('#').map_or(t, |(path, _)| path).to_owned())
        .filter(|t| !t.is_empty())
        .collect()
}

/// The README is a front door: short, and pointing into docs/, whose pages (listed in
/// docs/README.md) link only to files that exist.
#[test]
fn the_readme_is_a_front_door() {
    let readme = read("README.md");
    let lines = readme.lines().count();
    assert!(
        lines <= 260,
        "README.md has {lines} lines; it stays at most 260: the manual goes under docs/"
    );

    fn markdown_files(dir: &Path, out: &mut Vec<PathBuf>) {
        for e in std::fs::read_dir(dir).expect("docs/").flatten() {
            let p = e.path();
            if p.is_dir() {
                markdown_files(&p, out);
            } else if p.extension().is_some_and(|x| x == "md") {
                out.push(p);
            }
        }
    }
    let mut pages = Vec::new();
    markdown_files(&root().join("docs"), &mut pages);
    pages.sort();
    assert!(pages.len() >= 2, "docs/ holds the manual: {pages:?}");

    let mut broken = Vec::new();
    let mut linked = BTreeSet::new();
    for file in std::iter::once(root().join("README.md")).chain(pages.iter().cloned()) {
        let text = std::fs::read_to_string(&file).expect("a Markdown file");
        let dir = file.parent().expect("parent");
        let name = file
            .strip_prefix(root())
            .unwrap_or(&file)
            .display()
            .to_string();
        for target in relative_links(&text) {
            let path = dir.join(&target);
            match path.canonicalize() {
                Ok(path) => {
                    linked.insert((name.clone(), path));
                }
                Err(_) => broken.push(format!("{name}: {target}")),
            }
        }
    }
    assert!(
        broken.is_empty(),
        "links to files that do not exist:\n{}",
        broken.join("\n")
    );

    // The README links into docs/, and the index, docs/README.md, names every page.
    let docs_readme = root()
        .join("docs/README.md")
        .canonicalize()
        .expect("docs/README.md");
    assert!(
        linked.contains(&("README.md".to_owned(), docs_readme)),
        "README.md links to docs/README.md"
    );
    let index = read("docs/README.md");
    let docs = root().join("docs");
    for page in &pages {
        let page = page.strip_prefix(&docs).expect("under docs/");
        let page = page.to_string_lossy();
        assert!(
            page == "README.md" || index.contains(page.as_ref()),
            "docs/README.md does not list docs/{page}"
        );
    }
}
