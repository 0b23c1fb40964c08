//! A reload swaps the whole state in one step: while the resources change 200 times, every
//! output call and every metadata read sees the old set or the new one, never a mix and never
//! a gap. The bindings are an in-memory test type: what is under test is the runtime.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use async_trait::async_trait;
use bindery_core::descriptor::{BoxFuture, Operation};
use bindery_core::{
    BindingConfig, BindingDescriptor, BindingError, BuildContext, ConfigError, ConfigWarning,
    Field, FieldType, InvokeRequest, InvokeResponse, OutputBinding, Properties, decode_as,
};
use bindery_runtime::{Registry, Runtime, RuntimeConfig};

const TAG: Field = Field::new("tag", FieldType::String, "what every call answers").required();

#[derive(Clone)]
struct TagConfig(String);

impl BindingConfig for TagConfig {
    fn decode(p: &Properties, _: &mut Vec<ConfigWarning>) -> Result<Self, ConfigError> {
        p.required_string(&TAG, "tag is required").map(TagConfig)
    }
}

struct Tagged(String);

#[async_trait]
impl OutputBinding for Tagged {
    async fn invoke(&self, _: InvokeRequest) -> Result<Option<InvokeResponse>, BindingError> {
        Ok(Some(InvokeResponse {
            data: self.0.clone().into(),
            metadata: Default::default(),
        }))
    }
}

fn build(cx: BuildContext) -> BoxFuture<Result<Box<dyn OutputBinding>, BindingError>> {
    Box::pin(async move {
        let TagConfig(tag) = cx.config::<TagConfig>()?;
        Ok(Box::new(Tagged(tag)) as Box<dyn OutputBinding>)
    })
}

const TAGGED: BindingDescriptor = BindingDescriptor {
    type_name: "bindings.tagged",
    aliases: &[],
    status: "test",
    summary: "answers its tag",
    fields: &[TAG],
    operations: &[Operation {
        name: "get",
        description: "the tag",
    }],
    decode: decode_as::<TagConfig>,
    build_input: None,
    build_output: Some(build),
};

fn component(name: &str, tag: &str) -> String {
    format!(
        "apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata:\n  name: {name}\nspec:\n  type: bindings.tagged\n  metadata:\n  - name: tag\n    value: {tag}\n---\n"
    )
}

/// Set A: x, y and a, all tagged A. Set B: x, y and b, all tagged B.
fn set(tag: &str) -> String {
    let own = tag.to_lowercase();
    format!(
        "{}{}{}",
        component("x", tag),
        component("y", tag),
        component(&own, tag)
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn calls_and_metadata_see_one_set_while_the_resources_change_200_times() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("set.yaml");
    std::fs::write(&file, set("A")).unwrap();
    let config = RuntimeConfig {
        app_id: "atomic".to_owned(),
        resources_paths: vec![dir.path().to_path_buf()],
        ..RuntimeConfig::default()
    };
    let runtime = Runtime::start(config, &Registry::new(vec![TAGGED]))
        .await
        .expect("start");
    let done = Arc::new(AtomicBool::new(false));
    let calls = Arc::new(AtomicUsize::new(0));
    let reads = Arc::new(AtomicUsize::new(0));

    let caller = {
        let (runtime, done, calls) = (runtime.clone(), done.clone(), calls.clone());
        tokio::spawn(async move {
            let mut problems = Vec::new();
            while !done.load(Ordering::Relaxed) {
                for name in ["x", "y"] {
                    let request = InvokeRequest {
                        operation: "get".to_owned(),
                        ..Default::default()
                    };
                    match runtime.invoke(name, request).await {
                        Ok(Some(r)) if r.data == "A" || r.data == "B" => {}
                        other => problems.push(format!("{name}: {other:?}")),
                    }
                    calls.fetch_add(1, Ordering::Relaxed);
                }
                tokio::task::yield_now().await;
            }
            problems
        })
    };
    let reader = {
        let (runtime, done, reads) = (runtime.clone(), done.clone(), reads.clone());
        tokio::spawn(async move {
            let a: BTreeSet<String> = ["a", "x", "y"].map(String::from).into();
            let b: BTreeSet<String> = ["b", "x", "y"].map(String::from).into();
            let mut problems = Vec::new();
            while !done.load(Ordering::Relaxed) {
                let names: BTreeSet<String> = runtime
                    .metadata()
                    .components
                    .into_iter()
                    .map(|c| c.name)
                    .collect();
                if names != a && names != b {
                    problems.push(format!("{names:?}"));
                }
                reads.fetch_add(1, Ordering::Relaxed);
                tokio::task::yield_now().await;
            }
            problems
        })
    };

    for i in 0..200 {
        let tag = if i % 2 == 0 { "B" } else { "A" };
        std::fs::write(&file, set(tag)).unwrap();
        let summary = runtime.reload().await;
        assert_eq!(summary.updated.len(), 2, "reload {i}: {summary:?}");
        assert_eq!(summary.rejected, Vec::<String>::new(), "reload {i}");
    }
    done.store(true, Ordering::Relaxed);
    let call_problems = caller.await.unwrap();
    let read_problems = reader.await.unwrap();
    println!(
        "reloads=200 calls={} metadata_reads={} mixed_or_missing_calls={} mixed_metadata={}",
        calls.load(Ordering::Relaxed),
        reads.load(Ordering::Relaxed),
        call_problems.len(),
        read_problems.len()
    );
    assert!(
        calls.load(Ordering::Relaxed) > 200,
        "the calls ran during the reloads"
    );
    assert!(
        reads.load(Ordering::Relaxed) > 200,
        "the reads ran during the reloads"
    );
    assert!(
        call_problems.is_empty(),
        "calls saw a gap: {:?}",
        &call_problems[..call_problems.len().min(5)]
    );
    assert!(
        read_problems.is_empty(),
        "metadata saw a mix: {:?}",
        &read_problems[..read_problems.len().min(5)]
    );
    runtime.close_outputs().await;
}

struct Idle;

#[async_trait]
impl bindery_core::InputBinding for Idle {
    async fn run(self: Box<Self>, cx: bindery_core::InputContext) -> Result<(), BindingError> {
        cx.shutdown().cancelled().await;
        Ok(())
    }
}

fn build_idle(
    _: BuildContext,
) -> BoxFuture<Result<Box<dyn bindery_core::InputBinding>, BindingError>> {
    Box::pin(async { Ok(Box::new(Idle) as Box<dyn bindery_core::InputBinding>) })
}

#[derive(Clone)]
struct Nothing;

impl BindingConfig for Nothing {
    fn decode(_: &Properties, _: &mut Vec<ConfigWarning>) -> Result<Self, ConfigError> {
        Ok(Nothing)
    }
}

const IDLE: BindingDescriptor = BindingDescriptor {
    type_name: "bindings.idle",
    aliases: &[],
    status: "test",
    summary: "an input that never delivers",
    fields: &[],
    operations: &[],
    decode: decode_as::<Nothing>,
    build_input: Some(build_idle),
    build_output: None,
};

fn idle(dead_letter: &str) -> String {
    format!(
        "apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata:\n  name: events\nspec:\n  type: bindings.idle\n  metadata:\n  - name: deadLetterBinding\n    value: {dead_letter}\n---\n"
    )
}

#[tokio::test]
async fn a_reload_keeps_every_dead_letter_binding_loaded() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("set.yaml");
    std::fs::write(&file, format!("{}{}", idle("x"), component("x", "A"))).unwrap();
    let config = RuntimeConfig {
        app_id: "dead-letters".to_owned(),
        resources_paths: vec![dir.path().to_path_buf()],
        ..RuntimeConfig::default()
    };
    let runtime = Runtime::start(config, &Registry::new(vec![TAGGED, IDLE]))
        .await
        .expect("start");
    let names = |r: &Runtime| -> BTreeSet<String> {
        r.metadata()
            .components
            .into_iter()
            .map(|c| c.name)
            .collect()
    };

    // Removing the output the running input dead-letters to is refused.
    std::fs::write(&file, idle("x")).unwrap();
    let summary = runtime.reload().await;
    assert_eq!(summary.rejected, ["x"], "{summary:?}");
    assert!(summary.removed.is_empty(), "{summary:?}");
    assert_eq!(names(&runtime), ["events", "x"].map(String::from).into());
    let answer = runtime
        .invoke(
            "x",
            InvokeRequest {
                operation: "get".to_owned(),
                ..Default::default()
            },
        )
        .await
        .expect("x still serves");
    assert_eq!(answer.unwrap().data, "A");

    // A new definition whose dead letter names nothing loaded is refused; the old one stays.
    std::fs::write(&file, format!("{}{}", idle("nowhere"), component("x", "A"))).unwrap();
    let summary = runtime.reload().await;
    assert_eq!(summary.rejected, ["events"], "{summary:?}");
    assert!(summary.updated.is_empty(), "{summary:?}");

    // A valid change still applies.
    std::fs::write(
        &file,
        format!(
            "{}{}{}",
            idle("y"),
            component("x", "A"),
            component("y", "B")
        ),
    )
    .unwrap();
    let summary = runtime.reload().await;
    assert_eq!(summary.updated, ["events"], "{summary:?}");
    assert_eq!(summary.added, ["y"], "{summary:?}");
    runtime.close_outputs().await;
}
