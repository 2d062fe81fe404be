//! doc/openapi.yaml documents every route the daemon serves, and nothing else.

use std::collections::BTreeSet;

#[test]
fn openapi_file_and_routes_agree() {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/doc/openapi.yaml")).unwrap();
    let doc: serde_yaml::Value = serde_yaml::from_str(&text).unwrap();
    let mut documented = BTreeSet::new();
    for (path, methods) in doc["paths"].as_mapping().unwrap() {
        for (m, _) in methods.as_mapping().unwrap() {
            documented.insert((m.as_str().unwrap().to_uppercase(), path.as_str().unwrap().to_owned()));
        }
    }
    let served: BTreeSet<(String, String)> = sysctr::daemon::routes::ROUTES.iter().map(|(m, p)| (m.to_string(), p.to_string())).collect();
    let undocumented: Vec<_> = served.difference(&documented).collect();
    let unserved: Vec<_> = documented.difference(&served).collect();
    assert!(undocumented.is_empty(), "routes missing from doc/openapi.yaml: {undocumented:?}");
    assert!(unserved.is_empty(), "doc/openapi.yaml documents routes the daemon does not serve: {unserved:?}");
}
