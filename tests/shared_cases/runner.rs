//! Runs one case of `tests/cases/cases.json` on one store through the
//! holds library: each agent a Manager with its own clock (and, on JetStream,
//! its own connection), raw reads and writes as another client of the bucket.

use super::clock::AgentClock;
use super::go_wire::go_hold_json;
use super::pattern::{Scope, duration_ns, evaluate, int, problems};
use super::values;
use holds::kv::{BucketSpec, JetStreamKv, KvStore, MemoryKv, Operation, SqliteKv, Unsent};
use holds::{Announce, Backend, Claim, Config, Error, Manager, Subscription};
use holds_test_support::NatsServer;
use holds_test_support::refusing::Refusing;
use serde_json::{Map, Value, json};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime};
use tempfile::TempDir;

/// Where a case's bucket lives.
pub enum Store {
    Memory,
    Sqlite,
    JetStream(Arc<NatsServer>),
}

impl Store {
    pub fn name(&self) -> &'static str {
        match self {
            Store::Memory => "memory",
            Store::Sqlite => "sqlite",
            Store::JetStream(_) => "jetstream",
        }
    }
}

/// A step's outcome: a result or an error object.
type Outcome = Result<Value, Value>;

struct Agent {
    name: String,
    ttl_max: Duration,
    chan_buffer: usize,
    replica: bool,
    op_timeout: Option<Duration>,
    /// The agent's store, when the case scripts its writes (`refuse_writes`).
    refusing: Option<Arc<Refusing>>,
    clock: Arc<AgentClock>,
    manager: Option<Manager>,
    subscriptions: HashMap<String, Subscription>,
}

pub struct CaseRunner<'a> {
    case: &'a Value,
    store: &'a Store,
    within: String,
    bucket: String,
    max_age: Duration,
    agents: Vec<Agent>,
    memory: Option<MemoryKv>,
    sqlite: Option<TempDir>,
    raw: Option<Arc<dyn KvStore>>,
    scope: Scope,
}

fn unique_bucket(case: &str) -> String {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let stem: String = case
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .take(40)
        .collect();
    format!(
        "shared_{stem}_{}_{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::SeqCst)
    )
}

fn spec(bucket: &str, max_age: Duration) -> BucketSpec {
    BucketSpec {
        name: bucket.to_string(),
        max_age,
        replicas: 1,
        op_timeout: Duration::from_secs(5),
    }
}

fn dur(text: &str) -> Result<Duration, String> {
    duration_ns(text).map(Duration::from_nanos)
}

fn text<'v>(v: &'v Value, what: &str) -> Result<&'v str, String> {
    v.as_str()
        .ok_or_else(|| format!("{what} must be a string, not {v}"))
}

impl<'a> CaseRunner<'a> {
    pub fn new(case: &'a Value, defaults: &'a Value, store: &'a Store) -> Result<Self, String> {
        let name = text(&case["name"], "name")?;
        let ttl_max = case
            .get("ttl_max")
            .or_else(|| defaults.get("ttl_max"))
            .map_or(Ok("60s"), |v| text(v, "ttl_max"))?;
        let max_age = dur(ttl_max)?;
        let within = defaults
            .get("within")
            .map_or(Ok("10s"), |v| text(v, "within"))?
            .to_string();
        let mut agents = Vec::new();
        for a in case["agents"].as_array().ok_or("agents must be an array")? {
            agents.push(Agent {
                name: text(&a["name"], "agent name")?.to_string(),
                ttl_max: a
                    .get("ttl_max")
                    .map_or(Ok(max_age), |v| dur(text(v, "ttl_max")?))?,
                chan_buffer: a.get("chan_buffer").and_then(Value::as_u64).unwrap_or(32) as usize,
                replica: a.get("replica").map_or(Ok(true), |v| {
                    v.as_bool()
                        .ok_or_else(|| format!("replica must be a bool, not {v}"))
                })?,
                op_timeout: a
                    .get("op_timeout")
                    .map(|v| dur(text(v, "op_timeout")?))
                    .transpose()?,
                refusing: None,
                clock: Arc::new(AgentClock::new(
                    a.get("clock_offset")
                        .map_or(Ok(0), |v| duration_ns(text(v, "clock_offset")?))?
                        as i64,
                )),
                manager: None,
                subscriptions: HashMap::new(),
            });
        }
        if agents.is_empty() {
            return Err("a case needs an agent".into());
        }
        let bucket = unique_bucket(name);
        let memory = matches!(store, Store::Memory).then(|| MemoryKv::new(&spec(&bucket, max_age)));
        let sqlite = match store {
            Store::Sqlite => Some(tempfile::tempdir().map_err(|e| format!("a temp dir: {e}"))?),
            _ => None,
        };
        Ok(CaseRunner {
            case,
            store,
            within,
            bucket,
            max_age,
            agents,
            memory,
            sqlite,
            raw: None,
            scope: Scope::new(),
        })
    }

    fn sqlite_path(&self) -> PathBuf {
        self.sqlite
            .as_ref()
            .expect("a SQLite case")
            .path()
            .join("holds.db")
    }

    async fn backend(&self) -> Result<Backend, String> {
        Ok(match self.store {
            Store::Memory => Backend::Store(Arc::new(self.memory.clone().expect("a memory case"))),
            Store::Sqlite => Backend::Sqlite(self.sqlite_path()),
            Store::JetStream(server) => Backend::JetStream(
                async_nats::connect(server.url())
                    .await
                    .map_err(|e| format!("connecting to the test nats-server: {e}"))?,
            ),
        })
    }

    /// Does any step script the stores' writes?
    fn scripts_writes(&self) -> bool {
        self.case["steps"]
            .as_array()
            .is_some_and(|steps| steps.iter().any(|s| s["do"] == "refuse_writes"))
    }

    /// The case's bucket opened by this runner, as `spec` says: the same
    /// store an agent's manager or another client opens.
    async fn open_store(&self, spec: &BucketSpec) -> Result<Arc<dyn KvStore>, String> {
        Ok(match self.backend().await? {
            Backend::Store(store) => store,
            Backend::Sqlite(path) => Arc::new(
                SqliteKv::open(&path, spec)
                    .await
                    .map_err(|e| e.to_string())?,
            ),
            Backend::JetStream(client) => Arc::new(
                JetStreamKv::open(client, spec)
                    .await
                    .map_err(|e| e.to_string())?,
            ),
            _ => return Err("no store to open".into()),
        })
    }

    /// The agent's own store, wrapped to script its writes.
    async fn refusing(&self, config: &Config) -> Result<Arc<Refusing>, String> {
        let spec = BucketSpec {
            name: config.bucket.clone(),
            max_age: config.hold_ttl_max,
            replicas: 1,
            op_timeout: config.op_timeout,
        };
        Ok(Arc::new(Refusing::new(self.open_store(&spec).await?)))
    }

    async fn open_agent(&mut self, i: usize) -> Result<Result<(), Error>, String> {
        let mut backend = self.backend().await?;
        let agent = &self.agents[i];
        let mut config = Config::new(self.bucket.clone(), agent.ttl_max);
        config.chan_buffer = agent.chan_buffer;
        config.replica = agent.replica;
        if let Some(op_timeout) = agent.op_timeout {
            config.op_timeout = op_timeout;
        }
        if self.scripts_writes() {
            let refusing = self.refusing(&config).await?;
            backend = Backend::Store(refusing.clone());
            self.agents[i].refusing = Some(refusing);
        }
        let agent = &self.agents[i];
        let clock: Arc<dyn holds::clock::Clock> = agent.clock.clone();
        match Manager::builder(config).clock(clock).open(backend).await {
            Ok(m) => {
                self.agents[i].manager = Some(m);
                Ok(Ok(()))
            }
            Err(e) => Ok(Err(e)),
        }
    }

    /// The bucket as another client sees it (opened after the agents made it).
    async fn raw_store(&mut self) -> Result<Arc<dyn KvStore>, String> {
        if let Some(raw) = &self.raw {
            return Ok(raw.clone());
        }
        let raw = self.open_store(&spec(&self.bucket, self.max_age)).await?;
        self.raw = Some(raw.clone());
        Ok(raw)
    }

    pub async fn run(mut self) -> Result<(), String> {
        let result = self.steps().await;
        for agent in &mut self.agents {
            agent.subscriptions.clear();
            if let Some(m) = agent.manager.take() {
                m.close().await;
            }
        }
        result
    }

    async fn steps(&mut self) -> Result<(), String> {
        for i in 0..self.agents.len() {
            let opens_now = self.case["agents"][i]
                .get("open")
                .and_then(Value::as_bool)
                .unwrap_or(true);
            if opens_now && let Err(e) = self.open_agent(i).await? {
                return Err(format!("opening agent {}: {e}", self.agents[i].name));
            }
        }
        let steps = self.case["steps"]
            .as_array()
            .ok_or("steps must be an array")?;
        for (index, step) in steps.iter().enumerate() {
            let label = format!("step {index} ({})", step["do"]);
            let outcome = self
                .execute(step)
                .await
                .map_err(|e| format!("{label}: {e}"))?;
            self.judge(step, outcome)
                .map_err(|e| format!("{label} {step}:\n  {e}"))?;
        }
        Ok(())
    }

    fn judge(&mut self, step: &Value, outcome: Outcome) -> Result<(), String> {
        let expect = step.get("expect");
        let mut scope = self.scope.clone();
        let found = match &outcome {
            Err(error) => {
                scope.insert("_".into(), error.clone());
                match expect {
                    Some(pattern) if pattern.get("error").is_some() => {
                        problems(pattern, error, &scope, "error")
                    }
                    _ => vec![format!("failed with {error}")],
                }
            }
            Ok(result) => {
                scope.insert("_".into(), result.clone());
                match expect {
                    Some(pattern) if pattern.get("error").is_some() => {
                        vec![format!(
                            "expected error {}, got ok {result}",
                            pattern["error"]
                        )]
                    }
                    Some(pattern) => match pattern.get("ok") {
                        Some(ok) => problems(ok, result, &scope, "result"),
                        None => vec![],
                    },
                    None => vec![],
                }
            }
        };
        if !found.is_empty() {
            return Err(found.join("\n  "));
        }
        if let (Some(name), Ok(result)) = (step.get("save"), outcome) {
            self.scope.insert(text(name, "save")?.to_string(), result);
        }
        Ok(())
    }

    fn arg(&self, step: &Value, name: &str) -> Result<Value, String> {
        let v = step
            .get(name)
            .ok_or_else(|| format!("missing argument {name:?}"))?;
        evaluate(v, &self.scope)
    }

    fn arg_or(&self, step: &Value, name: &str, fallback: Value) -> Result<Value, String> {
        match step.get(name) {
            Some(v) => evaluate(v, &self.scope),
            None => Ok(fallback),
        }
    }

    fn string_arg(&self, step: &Value, name: &str) -> Result<String, String> {
        Ok(text(&self.arg(step, name)?, name)?.to_string())
    }

    fn refusing_store(&self, i: usize) -> Result<&Refusing, String> {
        self.agents[i]
            .refusing
            .as_deref()
            .ok_or_else(|| format!("agent {} was opened before a script", self.agents[i].name))
    }

    fn agent_index(&self, step: &Value) -> Result<usize, String> {
        match step.get("agent") {
            None => Ok(0),
            Some(name) => {
                let name = text(name, "agent")?;
                self.agents
                    .iter()
                    .position(|a| a.name == name)
                    .ok_or_else(|| format!("no agent {name:?}"))
            }
        }
    }

    fn announce_of(&self, step: &Value, agent: usize) -> Result<Announce, String> {
        let agent_id = self.arg_or(step, "agent_id", json!(self.agents[agent].name))?;
        let ttl = self.string_arg(step, "ttl")?;
        let mut announce = Announce::new(text(&agent_id, "agent_id")?, dur(&ttl)?);
        announce.checkout_path =
            text(&self.arg_or(step, "checkout", json!(""))?, "checkout")?.to_string();
        match text(&self.arg_or(step, "mode", json!("exclusive"))?, "mode")? {
            "exclusive" => {}
            "shared" => announce = announce.shared(),
            other => return Err(format!("mode {other:?} is neither exclusive nor shared")),
        }
        Ok(announce)
    }

    fn files(&self, step: &Value) -> Result<Vec<String>, String> {
        self.arg(step, "files")?
            .as_array()
            .ok_or("files must be an array")?
            .iter()
            .map(|f| text(f, "a file").map(str::to_string))
            .collect()
    }

    async fn execute(&mut self, step: &Value) -> Result<Outcome, String> {
        let op = text(&step["do"], "do")?;
        let i = self.agent_index(step)?;
        match op {
            "sleep" => {
                tokio::time::sleep(dur(&self.string_arg(step, "for")?)?).await;
                return Ok(Ok(Value::Null));
            }
            "advance" => {
                self.agents[i]
                    .clock
                    .advance(duration_ns(&self.string_arg(step, "by")?)? as i64);
                return Ok(Ok(Value::Null));
            }
            "freeze_clock" => {
                let at = int(&self.arg(step, "at")?).ok_or("at must be an integer")?;
                self.agents[i].clock.freeze(at as i64);
                return Ok(Ok(Value::Null));
            }
            "open" => {
                return Ok(self
                    .open_agent(i)
                    .await?
                    .map(|()| Value::Null)
                    .map_err(|e| values::error(&e)));
            }
            "put_raw" => return self.put_raw(i, step).await.map(Ok),
            "get_raw" => return self.get_raw(i, step).await.map(Ok),
            "wait_event" => return self.wait_event(i, step).await,
            "race" => return self.race(step).await.map(Ok),
            "refuse_writes" => {
                let answers = self
                    .arg(step, "answers")?
                    .as_array()
                    .ok_or("answers must be an array")?
                    .iter()
                    .map(|a| match a.as_str() {
                        Some("busy") => Ok(Unsent::Busy),
                        Some("leader-changing") => Ok(Unsent::LeaderChanging),
                        Some("no-stream") => Ok(Unsent::NoStream),
                        _ => Err(format!("{a} is not busy, leader-changing or no-stream")),
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                self.refusing_store(i)?.refuse(answers);
                return Ok(Ok(Value::Null));
            }
            "writes_sent" => {
                return Ok(Ok(json!({ "count": self.refusing_store(i)?.sent() })));
            }
            _ => {}
        }
        let m = self.agents[i]
            .manager
            .clone()
            .ok_or_else(|| format!("agent {} is not open", self.agents[i].name))?;
        let outcome = match op {
            "announce" => {
                let announce = self.announce_of(step, i)?;
                m.announce(&self.string_arg(step, "file")?, &announce)
                    .await
                    .map(|c| values::claim(&c))
            }
            "release" => {
                let agent_id = self.arg_or(step, "agent_id", json!(self.agents[i].name))?;
                m.release(
                    &self.string_arg(step, "file")?,
                    text(&agent_id, "agent_id")?,
                )
                .await
                .map(|r| values::release(&r))
            }
            "claim" => {
                let announce = self.announce_of(step, i)?;
                m.claim(&self.files(step)?, &announce)
                    .await
                    .map(|c| values::claimed(&c))
            }
            "renew" => {
                let announce = self.announce_of(step, i)?;
                let revision = self
                    .arg(step, "revision")?
                    .as_u64()
                    .ok_or("revision must be an integer")?;
                m.renew_for_test(&self.string_arg(step, "file")?, &announce, revision)
                    .await
                    .map(|c| values::claim(&c))
            }
            "check" => {
                let agent_id = self.arg_or(step, "agent_id", json!(self.agents[i].name))?;
                let tokens: Option<Vec<u64>> = match step.get("tokens") {
                    None => None,
                    Some(_) => Some(
                        self.arg(step, "tokens")?
                            .as_array()
                            .ok_or("tokens must be an array")?
                            .iter()
                            .map(|t| t.as_u64().ok_or(format!("token {t} is not an integer")))
                            .collect::<Result<_, _>>()?,
                    ),
                };
                m.check(
                    &self.files(step)?,
                    text(&agent_id, "agent_id")?,
                    tokens.as_deref(),
                )
                .await
                .map(|checks| Value::Array(checks.iter().map(values::check).collect()))
            }
            "force_release" => m
                .force_release(
                    &self.string_arg(step, "file")?,
                    &self.string_arg(step, "by")?,
                )
                .await
                .map(|r| values::release(&r)),
            "holders" => m
                .holders(&self.string_arg(step, "file")?)
                .await
                .map(|claims| Value::Array(claims.iter().map(values::claim).collect())),
            "who_has" => m
                .who_has(&self.string_arg(step, "file")?)
                .await
                .map(|c| values::maybe_claim(c.as_ref())),
            "list" => m
                .list()
                .await
                .map(|claims| Value::Array(claims.iter().map(values::claim).collect())),
            "identify" => {
                let paths: Vec<String> = self
                    .arg(step, "paths")?
                    .as_array()
                    .ok_or("paths must be an array")?
                    .iter()
                    .map(|p| text(p, "a path").map(str::to_string))
                    .collect::<Result<_, _>>()?;
                let place = |name: &str, fallback: &str| -> Result<String, String> {
                    Ok(text(&self.arg_or(step, name, json!(fallback))?, name)?.to_string())
                };
                let place = holds::Place {
                    cwd: place("cwd", "/")?,
                    workspace: place("workspace", "")?,
                    checkout: place("checkout", "")?,
                };
                m.identify(&paths, &place).await.map(|ids| {
                    ids.iter()
                        .map(|i| json!({"file": i.file, "checkout": i.checkout}))
                        .collect()
                })
            }
            "key_for_file" => m
                .key_for_test(&self.string_arg(step, "file")?)
                .await
                .map(Value::from),
            "file_for_key" => m
                .file_for_key_for_test(&self.string_arg(step, "key")?)
                .await
                .map(Value::from),
            "probe" => m.probe().await.map(|()| Value::Null),
            "upkeep" => Ok(Value::Object(
                m.upkeep_for_test()
                    .into_iter()
                    .map(|(field, value)| (field.to_string(), json!(value)))
                    .collect(),
            )),
            "close" => {
                m.close().await;
                Ok(Value::Null)
            }
            "subscribe" => match m.subscribe().await {
                Ok(mut sub) => {
                    let snapshot: Vec<Value> =
                        sub.take_snapshot().iter().map(values::event).collect();
                    let name = self.string_arg(step, "name")?;
                    self.agents[i].subscriptions.insert(name, sub);
                    Ok(json!({"snapshot": snapshot}))
                }
                Err(e) => Err(e),
            },
            other => return Err(format!("unknown operation {other:?}")),
        };
        Ok(outcome.map_err(|e| values::error(&e)))
    }

    async fn key_of(&mut self, i: usize, step: &Value) -> Result<String, String> {
        if step.get("key").is_some() {
            return self.string_arg(step, "key");
        }
        let m = self.agents[i]
            .manager
            .clone()
            .ok_or("the agent is not open")?;
        m.key_for_test(&self.string_arg(step, "file")?)
            .await
            .map_err(|e| e.to_string())
    }

    async fn put_raw(&mut self, i: usize, step: &Value) -> Result<Value, String> {
        let key = self.key_of(i, step).await?;
        let raw = self.raw_store().await?;
        let put = |value: Vec<u8>| {
            let raw = raw.clone();
            let key = key.clone();
            async move {
                holds_test_support::raw::put(raw.as_ref(), &key, value)
                    .await
                    .map_err(|e| e.to_string())
            }
        };
        if let Some(g) = step.get("go_hold") {
            let claimed = values::ns(SystemTime::now());
            let ttl = duration_ns(text(&g["ttl"], "go_hold.ttl")?)?;
            let checkout = g
                .get("checkout_path")
                .map_or(Ok(""), |v| text(v, "checkout_path"))?;
            let extra: Option<&Map<String, Value>> = g.get("extra").and_then(Value::as_object);
            let value = go_hold_json(
                text(&g["agent_id"], "go_hold.agent_id")?,
                claimed,
                ttl,
                checkout,
                extra,
            );
            let revision = put(value).await?;
            return Ok(
                json!({"revision": revision, "claimed_at": claimed, "expires_at": claimed + ttl as i64}),
            );
        }
        let value = self.string_arg(step, "value")?;
        if let Some(headers) = step.get("headers") {
            return self.publish_with_headers(&key, headers, value).await;
        }
        Ok(json!({"revision": put(value.into_bytes()).await?}))
    }

    /// A message with `headers` on the key's subject, as another JetStream
    /// client (or the server) would leave it.
    async fn publish_with_headers(
        &self,
        key: &str,
        headers: &Value,
        value: String,
    ) -> Result<Value, String> {
        let Store::JetStream(server) = self.store else {
            return Err("put_raw with headers needs the jetstream store".into());
        };
        let mut map = async_nats::HeaderMap::new();
        for (name, v) in headers.as_object().ok_or("headers must be an object")? {
            map.insert(name.as_str(), text(v, "a header value")?);
        }
        let client = async_nats::connect(server.url())
            .await
            .map_err(|e| e.to_string())?;
        let ack = async_nats::jetstream::new(client)
            .publish_with_headers(format!("$KV.{}.{key}", self.bucket), map, value.into())
            .await
            .map_err(|e| e.to_string())?
            .await
            .map_err(|e| e.to_string())?;
        Ok(json!({ "revision": ack.sequence }))
    }

    async fn get_raw(&mut self, i: usize, step: &Value) -> Result<Value, String> {
        let key = self.key_of(i, step).await?;
        let entry = self
            .raw_store()
            .await?
            .get(&key)
            .await
            .map_err(|e| e.to_string())?;
        Ok(match entry {
            None => json!({"found": false, "revision": 0, "operation": "put", "value": ""}),
            Some(e) => json!({
                "found": true,
                "revision": e.revision,
                "operation": match e.operation {
                    Operation::Put => "put",
                    Operation::Delete => "delete",
                    Operation::Purge => "purge",
                    Operation::Expire => "expire",
                },
                "value": String::from_utf8_lossy(&e.value),
            }),
        })
    }

    async fn wait_event(&mut self, i: usize, step: &Value) -> Result<Outcome, String> {
        let name = self.string_arg(step, "sub")?;
        let within = dur(text(
            &self.arg_or(step, "within", json!(self.within))?,
            "within",
        )?)?;
        let pattern = step.get("match").cloned();
        let scope = self.scope.clone();
        let agent = &mut self.agents[i];
        let sub = agent
            .subscriptions
            .get_mut(&name)
            .ok_or_else(|| format!("agent {} has no subscription {name:?}", agent.name))?;
        let deadline = Instant::now() + within;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match tokio::time::timeout(left, sub.next()).await {
                Err(_) => return Ok(Err(json!({"error": "timeout"}))),
                Ok(None) => return Ok(Err(json!({"error": "ended"}))),
                Ok(Some(Err(e))) => return Ok(Err(values::error(&e))),
                Ok(Some(Ok(event))) => {
                    let seen = values::event(&event);
                    match &pattern {
                        Some(p) if !problems(p, &seen, &scope, "event").is_empty() => continue,
                        _ => return Ok(Ok(seen)),
                    }
                }
            }
        }
    }

    async fn race(&mut self, step: &Value) -> Result<Value, String> {
        let names = self.arg(step, "agents")?;
        let names: Vec<&str> = names
            .as_array()
            .ok_or("agents must be an array")?
            .iter()
            .map(|n| text(n, "an agent"))
            .collect::<Result<_, _>>()?;
        let count = self
            .arg(step, "count")?
            .as_u64()
            .ok_or("count must be an integer")? as usize;
        let ttl = dur(&self.string_arg(step, "ttl")?)?;
        let agent_id = self.string_arg(step, "agent_id")?;
        let files = match step.get("files") {
            Some(_) => Some(self.files(step)?),
            None => None,
        };
        let file = match &files {
            None => Some(self.string_arg(step, "file")?),
            Some(_) => None,
        };
        let mut calls = Vec::with_capacity(count);
        for call in 0..count {
            let name = names[call % names.len()];
            let m = self
                .agents
                .iter()
                .find(|a| a.name == name)
                .and_then(|a| a.manager.clone())
                .ok_or_else(|| format!("agent {name:?} is not open"))?;
            let at = |s: &str| s.replace("{i}", &call.to_string());
            let announce = Announce::new(at(&agent_id), ttl);
            let files: Option<Vec<String>> =
                files.as_ref().map(|fs| fs.iter().map(|f| at(f)).collect());
            let file = file.as_deref().map(at);
            calls.push(tokio::spawn(async move {
                match (files, file) {
                    (Some(files), _) => m.claim(&files, &announce).await.map(|c| c.claims),
                    (None, Some(file)) => m.announce(&file, &announce).await.map(|c| vec![c]),
                    (None, None) => unreachable!("a race has a file or files"),
                }
            }));
        }
        let mut counts = Map::new();
        let mut revisions = std::collections::BTreeSet::new();
        for call in calls {
            let result: Result<Vec<Claim>, Error> = call
                .await
                .map_err(|e| format!("a racing call panicked: {e}"))?;
            let kind = match &result {
                Ok(claims) => {
                    revisions.extend(claims.iter().map(|c| c.revision));
                    "ok".to_string()
                }
                Err(e) => values::error(e)["error"]
                    .as_str()
                    .unwrap_or("?")
                    .to_string(),
            };
            let n = counts.get(&kind).and_then(Value::as_u64).unwrap_or(0);
            counts.insert(kind, json!(n + 1));
        }
        Ok(json!({"counts": counts, "distinct_revisions": revisions.len()}))
    }
}
