//! The event guarantees against a real RabbitMQ and real databases: an event committed while
//! the broker is down is delivered once it is back; a redelivered event has no second effect;
//! a poison event ends in the dead-letter queue; the in-process bus parks what it cannot apply.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use carebill_domain::events::{Envelope, EpisodeClosedV1};
use carebill_domain::ids::{EpisodeId, LocationId};
use carebill_platform::Error;
use carebill_platform::db::{AnyConnection, Db, PLATFORM_MIGRATIONS};
use carebill_platform::events::inprocess::InProcessBus;
use carebill_platform::events::outbox::{self, Relay};
use carebill_platform::events::rabbitmq::{
    BATCH_CONTENT_TYPE, RabbitBus, SINGLE_CONTENT_TYPE, declare_consumer, decode_message,
    queue_name,
};
use carebill_platform::events::{BatchHandler, EventBus, Handler, Subscription, inbox};
use carebill_platform::metrics::Metrics;
use carebill_platform::testing::{PgTestDb, amqp_url};
use diesel::prelude::*;
use futures::FutureExt as _;
use lapin::options::{BasicGetOptions, QueueDeleteOptions};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, mpsc, watch};

fn event(kind: &str) -> Envelope {
    let payload = EpisodeClosedV1 {
        episode_id: EpisodeId::new(),
        location_id: LocationId::new(),
        status: carebill_domain::accounts::EpisodeStatus::Closed,
        closed_at: chrono::Utc::now(),
        reason: Some("test".to_owned()),
    };
    let mut env =
        Envelope::new("test", &payload, chrono::Utc::now(), None, None).expect("envelope");
    env.event_type = kind.to_owned();
    env
}

fn pg_db() -> (PgTestDb, Db) {
    let pg = PgTestDb::create();
    let db = Db::connect(&pg.url, 4).expect("connect");
    db.migrate(&[&PLATFORM_MIGRATIONS]).expect("migrate");
    (pg, db)
}

/// [`pg_db`] with the `effects` table the counting handler writes.
async fn pg_db_with_effects() -> (PgTestDb, Db) {
    let (pg, db) = pg_db();
    db.write(|c| {
        Ok(diesel::sql_query("CREATE TABLE effects (event_id TEXT NOT NULL)").execute(c)?)
    })
    .await
    .expect("table");
    (pg, db)
}

async fn channel() -> (lapin::Connection, lapin::Channel) {
    let url = amqp_url();
    let conn = lapin::Connection::connect(&url, lapin::ConnectionProperties::default())
        .await
        .unwrap_or_else(|e| panic!("RabbitMQ is required for this test and is not reachable at {url}: {e}. Start it (see docs/development/testing.md) or set CAREBILL_TEST_AMQP_URL."));
    let ch = conn.create_channel().await.expect("channel");
    (conn, ch)
}

async fn delete_queues(ch: &lapin::Channel, consumer: &str) {
    let main = queue_name(consumer);
    for q in [
        main.clone(),
        format!("{main}.retry"),
        format!("{main}.dead"),
    ] {
        let _ = ch
            .queue_delete(q.as_str().into(), QueueDeleteOptions::default())
            .await;
    }
}

async fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    l.local_addr().expect("addr").port()
}

/// Forwards connections on `port` to the real broker: the broker "comes back" when this starts.
async fn start_proxy(port: u16) -> tokio::task::JoinHandle<()> {
    let target = amqp_url()
        .split('@')
        .nth(1)
        .and_then(|h| h.split('/').next())
        .unwrap_or("127.0.0.1:5672")
        .to_owned();
    let listener = TcpListener::bind(("127.0.0.1", port))
        .await
        .expect("proxy bind");
    tokio::spawn(async move {
        while let Ok((mut inbound, _)) = listener.accept().await {
            let target = target.clone();
            tokio::spawn(async move {
                if let Ok(mut outbound) = TcpStream::connect(&target).await {
                    let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                }
            });
        }
    })
}

async fn eventually<
    F: Fn() -> std::pin::Pin<Box<dyn std::future::Future<Output = bool> + Send>>,
>(
    what: &str,
    f: F,
) {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(30) {
        if f().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out waiting for: {what}");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_event_committed_while_the_broker_is_down_is_delivered_after_it_comes_back() {
    let (_pg, db) = pg_db();
    let consumer = format!("test-{}", uuid::Uuid::now_v7().simple());
    let kind = format!("carebill.test.{consumer}.happened.v1");
    let (_conn, ch) = channel().await;
    declare_consumer(&ch, &consumer, std::slice::from_ref(&kind))
        .await
        .expect("declare");

    let env = event(&kind);
    let committed = env.clone();
    db.write(move |c| c.transaction(|c| outbox::enqueue(c, &committed)))
        .await
        .expect("commit");

    let port = free_port().await;
    let metrics = Arc::new(Metrics::new().expect("metrics"));
    let bus = EventBus::Rabbit(Arc::new(RabbitBus::new(
        &format!("amqp://guest:guest@127.0.0.1:{port}/%2f"),
        metrics.clone(),
    )));
    let relay = Relay::new("test", db.clone(), bus, metrics, Arc::new(Notify::new()));
    assert!(
        relay.drain().await.is_err(),
        "the broker is down: publishing fails"
    );
    assert_eq!(
        db.read(|c| Ok(outbox::pending(c)?)).await.expect("pending"),
        1,
        "the event waits in the outbox"
    );

    let proxy = start_proxy(port).await;
    relay
        .drain()
        .await
        .expect("the broker is back: publishing succeeds");
    assert_eq!(
        db.read(|c| Ok(outbox::pending(c)?)).await.expect("pending"),
        0
    );

    let got = ch
        .basic_get(
            queue_name(&consumer).as_str().into(),
            BasicGetOptions { no_ack: true },
        )
        .await
        .expect("get");
    let msg = got.expect("the event is in the consumer's queue");
    let delivered: Envelope = serde_json::from_slice(&msg.delivery.data).expect("envelope");
    assert_eq!(delivered.id, env.id);
    assert_eq!(delivered.data.get(), env.data.get());
    delete_queues(&ch, &consumer).await;
    proxy.abort();
}

fn counting_handler(db: Db, consumer: String, calls: Arc<AtomicUsize>) -> Handler {
    Arc::new(move |env: Envelope| {
        let db = db.clone();
        let consumer = consumer.clone();
        let calls = calls.clone();
        async move {
            calls.fetch_add(1, Ordering::SeqCst);
            db.write(move |c: &mut AnyConnection| {
                inbox::apply_once(c, &consumer, &env, |c| {
                    diesel::sql_query("INSERT INTO effects (event_id) VALUES ($1)")
                        .bind::<diesel::sql_types::Text, _>(env.id.to_string())
                        .execute(c)
                        .map_err(Error::from)
                })?;
                Ok(())
            })
            .await
            .map_err(|e| e.to_string())
        }
        .boxed()
    })
}

/// An in-process bus whose one consumer counts the deliveries of each event id.
fn counting_bus(
    db: &Db,
) -> (
    Arc<InProcessBus>,
    Arc<std::sync::Mutex<std::collections::HashMap<String, usize>>>,
) {
    let seen = Arc::new(std::sync::Mutex::new(std::collections::HashMap::new()));
    let counter = seen.clone();
    let handler: Handler = Arc::new(move |env: Envelope| {
        if let Ok(mut m) = counter.lock() {
            *m.entry(env.id.to_string()).or_default() += 1;
        }
        async { Ok(()) }.boxed()
    });
    let bus = Arc::new(InProcessBus::new());
    bus.subscribe(Subscription {
        consumer: "c".to_owned(),
        event_types: vec!["#".to_owned()],
        handler,
        batch: None,
        db: db.clone(),
    });
    (bus, seen)
}

/// The next message of `queue`, waiting up to 30 s for one.
async fn next_message(ch: &lapin::Channel, queue: &str) -> lapin::message::Delivery {
    let start = Instant::now();
    loop {
        if let Some(m) = ch
            .basic_get(queue.into(), BasicGetOptions { no_ack: true })
            .await
            .expect("get")
        {
            return m.delivery;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "nothing reached {queue}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn effects(db: &Db) -> i64 {
    #[derive(QueryableByName)]
    struct N {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    db.read(|c| {
        Ok(diesel::sql_query("SELECT COUNT(*) AS n FROM effects")
            .get_result::<N>(c)?
            .n)
    })
    .await
    .expect("count")
}

#[tokio::test(flavor = "multi_thread")]
async fn a_redelivered_event_has_no_second_effect() {
    let (_pg, db) = pg_db_with_effects().await;
    let consumer = format!("test-{}", uuid::Uuid::now_v7().simple());
    let kind = format!("carebill.test.{consumer}.happened.v1");
    let (_conn, ch) = channel().await;
    declare_consumer(&ch, &consumer, std::slice::from_ref(&kind))
        .await
        .expect("declare");
    let metrics = Arc::new(Metrics::new().expect("metrics"));
    let bus = Arc::new(RabbitBus::new(&amqp_url(), metrics));
    let calls = Arc::new(AtomicUsize::new(0));
    let (stop, stop_rx) = watch::channel(false);
    bus.subscribe(
        Subscription {
            consumer: consumer.clone(),
            event_types: vec![kind.clone()],
            handler: counting_handler(db.clone(), consumer.clone(), calls.clone()),
            batch: None,
            db: db.clone(),
        },
        stop_rx,
    );
    let first = event(&kind);
    let second = event(&kind);
    // The relay crashed after publishing `first` and before marking it: it is published again.
    bus.publish(std::slice::from_ref(&first))
        .await
        .expect("publish");
    bus.publish(&[first.clone(), second])
        .await
        .expect("publish again");
    let c = calls.clone();
    eventually("three deliveries", move || {
        let c = c.clone();
        async move { c.load(Ordering::SeqCst) >= 3 }.boxed()
    })
    .await;
    assert_eq!(
        calls.load(Ordering::SeqCst),
        3,
        "the broker delivered the first event twice"
    );
    assert_eq!(effects(&db).await, 2, "but it took effect once");
    let _ = stop.send(true);
    delete_queues(&ch, &consumer).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_poison_event_ends_in_the_dead_letter_queue_after_retries() {
    let (_pg, db) = pg_db();
    let consumer = format!("test-{}", uuid::Uuid::now_v7().simple());
    let kind = format!("carebill.test.{consumer}.happened.v1");
    let (_conn, ch) = channel().await;
    let metrics = Arc::new(Metrics::new().expect("metrics"));
    let bus = Arc::new(
        RabbitBus::new(&amqp_url(), metrics.clone()).with_retry_base(Duration::from_millis(20)),
    );
    let calls = Arc::new(AtomicUsize::new(0));
    let seen = calls.clone();
    let handler: Handler = Arc::new(move |_env| {
        seen.fetch_add(1, Ordering::SeqCst);
        async { Err("this event cannot be applied".to_owned()) }.boxed()
    });
    declare_consumer(&ch, &consumer, std::slice::from_ref(&kind))
        .await
        .expect("declare");
    let (stop, stop_rx) = watch::channel(false);
    let sub = Subscription {
        consumer: consumer.clone(),
        event_types: vec![kind.clone()],
        handler,
        batch: None,
        db,
    };
    bus.subscribe(sub.clone(), stop_rx.clone());
    EventBus::Rabbit(bus.clone()).watch_consumers(vec![sub], metrics.clone(), stop_rx);
    let poison = event(&kind);
    bus.publish(std::slice::from_ref(&poison))
        .await
        .expect("publish");
    // The parked event shows in the metrics before anyone looks at the queue.
    let parked_gauge = metrics.dead_letters.with_label_values(&[&consumer]);
    eventually("carebill_dead_letters counts the parked event", || {
        let g = parked_gauge.clone();
        Box::pin(async move { g.get() == 1 })
    })
    .await;
    let dead = format!("{}.dead", queue_name(&consumer));
    let msg = next_message(&ch, &dead).await;
    let parked: Envelope = serde_json::from_slice(&msg.data).expect("envelope");
    assert_eq!(parked.id, poison.id);
    assert_eq!(calls.load(Ordering::SeqCst), 5, "tried MAX_RETRIES times");
    let error = msg
        .properties
        .headers()
        .as_ref()
        .and_then(|h| h.inner().get("x-last-error").cloned());
    let error = match error {
        Some(lapin::types::AMQPValue::LongString(s)) => s.to_string(),
        other => format!("{other:?}"),
    };
    assert_eq!(error, "this event cannot be applied");
    let _ = stop.send(true);
    delete_queues(&ch, &consumer).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_run_of_events_of_one_type_is_one_message_and_a_poison_one_among_them_is_parked_alone() {
    let (_pg, db) = pg_db_with_effects().await;
    let consumer = format!("test-{}", uuid::Uuid::now_v7().simple());
    let kind = format!("carebill.test.{consumer}.happened.v1");
    let other = format!("carebill.test.{consumer}.other.v1");
    let (_conn, ch) = channel().await;
    let metrics = Arc::new(Metrics::new().expect("metrics"));
    let bus = Arc::new(
        RabbitBus::new(&amqp_url(), metrics.clone())
            .with_retry_base(Duration::from_millis(20))
            .with_events_per_message(3),
    );
    declare_consumer(&ch, &consumer, &[kind.clone(), other.clone()])
        .await
        .expect("declare");
    // Four of one type, one of another, two more of the first: runs of up to three events of
    // one type per message, in order.
    let mut events: Vec<Envelope> = (0..4).map(|_| event(&kind)).collect();
    events.push(event(&other));
    events.extend((0..2).map(|_| event(&kind)));
    bus.publish(&events).await.expect("publish");
    let main = queue_name(&consumer);
    let mut messages = Vec::new();
    while messages.len() < 4 {
        match ch
            .basic_get(main.as_str().into(), BasicGetOptions { no_ack: true })
            .await
            .expect("get")
        {
            Some(m) => messages.push(m.delivery),
            None => tokio::time::sleep(Duration::from_millis(20)).await,
        }
    }
    let sizes: Vec<usize> = messages
        .iter()
        .map(|m| decode_message(&m.data).expect("events").len())
        .collect();
    assert_eq!(
        sizes,
        vec![3, 1, 1, 2],
        "runs of one type, at most 3 per message"
    );
    let types: Vec<Option<String>> = messages
        .iter()
        .map(|m| m.properties.content_type().as_ref().map(|c| c.to_string()))
        .collect();
    assert_eq!(types[0].as_deref(), Some(BATCH_CONTENT_TYPE));
    assert_eq!(
        types[1].as_deref(),
        Some(SINGLE_CONTENT_TYPE),
        "a lone event is an ordinary CloudEvent"
    );
    let ids: Vec<_> = messages
        .iter()
        .flat_map(|m| decode_message(&m.data).expect("events"))
        .map(|e| e.id)
        .collect();
    assert_eq!(
        ids,
        events.iter().map(|e| e.id).collect::<Vec<_>>(),
        "order kept"
    );

    // Consumed (published again): the batch transaction fails on the poison event, so the
    // events are applied one by one; the poison one is retried and parked by itself, and every
    // other event takes effect once.
    let poison = events[1].id;
    let calls = Arc::new(AtomicUsize::new(0));
    let inner = counting_handler(db.clone(), consumer.clone(), calls.clone());
    let handler: Handler = Arc::new(move |env: Envelope| {
        if env.id == poison {
            async { Err("this event cannot be applied".to_owned()) }.boxed()
        } else {
            inner(env)
        }
    });
    let each = handler.clone();
    let batch: BatchHandler = Arc::new(move |envs: Vec<Envelope>| {
        let each = each.clone();
        async move {
            if envs.iter().any(|e| e.id == poison) {
                return Err("the batch holds the poison event".to_owned());
            }
            for env in envs {
                each(env).await?;
            }
            Ok(())
        }
        .boxed()
    });
    let (stop, stop_rx) = watch::channel(false);
    bus.subscribe(
        Subscription {
            consumer: consumer.clone(),
            event_types: vec![kind.clone(), other.clone()],
            handler,
            batch: Some(batch),
            db: db.clone(),
        },
        stop_rx,
    );
    bus.publish(&events).await.expect("publish again");
    let dead = format!("{main}.dead");
    let parked = next_message(&ch, &dead).await;
    let env: Envelope = serde_json::from_slice(&parked.data).expect("a single envelope");
    assert_eq!(env.id, poison);
    assert_eq!(
        parked
            .properties
            .content_type()
            .as_ref()
            .map(|c| c.to_string())
            .as_deref(),
        Some(SINGLE_CONTENT_TYPE)
    );
    eventually("every other event takes effect", || {
        let db = db.clone();
        Box::pin(async move { effects(&db).await == 6 })
    })
    .await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(effects(&db).await, 6, "each once");
    assert!(
        ch.basic_get(dead.as_str().into(), BasicGetOptions { no_ack: true })
            .await
            .expect("get")
            .is_none(),
        "only the poison event is parked"
    );

    // A batch with an element that is no envelope at all: the element is parked alone, as it
    // was; the event beside it takes effect.
    let good = event(&kind);
    let body =
        serde_json::to_vec(&serde_json::json!([good, {"not": "an envelope"}])).expect("json");
    ch.basic_publish(
        "".into(),
        main.as_str().into(),
        lapin::options::BasicPublishOptions::default(),
        &body,
        lapin::BasicProperties::default().with_content_type(BATCH_CONTENT_TYPE.into()),
    )
    .await
    .expect("publish")
    .await
    .expect("confirm");
    eventually("the readable event takes effect", || {
        let db = db.clone();
        Box::pin(async move { effects(&db).await == 7 })
    })
    .await;
    let unreadable = next_message(&ch, &dead).await;
    let parked: serde_json::Value = serde_json::from_slice(&unreadable.data).expect("json");
    assert_eq!(parked, serde_json::json!({"not": "an envelope"}));
    let _ = stop.send(true);
    delete_queues(&ch, &consumer).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_in_process_bus_applies_each_event_once_and_parks_what_fails() {
    let dir = tempfile::tempdir().expect("tmp");
    let producer = Db::connect(&dir.path().join("p.sqlite").to_string_lossy(), 2).expect("db");
    producer.migrate(&[&PLATFORM_MIGRATIONS]).expect("migrate");
    let consumer_db = Db::connect(&dir.path().join("c.sqlite").to_string_lossy(), 2).expect("db");
    consumer_db
        .migrate(&[&PLATFORM_MIGRATIONS])
        .expect("migrate");
    consumer_db
        .write(|c| {
            Ok(diesel::sql_query("CREATE TABLE effects (event_id TEXT NOT NULL)").execute(c)?)
        })
        .await
        .expect("table");

    let bus = Arc::new(InProcessBus::new());
    let calls = Arc::new(AtomicUsize::new(0));
    let (tx, mut rx) = mpsc::unbounded_channel::<()>();
    let inner = counting_handler(consumer_db.clone(), "c".to_owned(), calls.clone());
    let handler: Handler = Arc::new(move |env: Envelope| {
        let inner = inner.clone();
        let tx = tx.clone();
        async move {
            if env.event_type.ends_with("poison.v1") {
                return Err("cannot apply".to_owned());
            }
            let r = inner(env).await;
            let _ = tx.send(());
            r
        }
        .boxed()
    });
    bus.subscribe(Subscription {
        consumer: "c".to_owned(),
        event_types: vec!["carebill.test.#".to_owned()],
        handler,
        batch: None,
        db: consumer_db.clone(),
    });
    let good = event("carebill.test.good.v1");
    let poison = event("carebill.test.poison.v1");
    let (g, p, again) = (good.clone(), poison.clone(), good.clone());
    producer
        .write(move |c| {
            c.transaction(|c| {
                outbox::enqueue(c, &g)?;
                outbox::enqueue(c, &p)
            })
        })
        .await
        .expect("commit");
    let metrics = Arc::new(Metrics::new().expect("metrics"));
    let relay = Relay::new(
        "p",
        producer.clone(),
        EventBus::InProcess(bus.clone()),
        metrics,
        Arc::new(Notify::new()),
    );
    relay.drain().await.expect("drain");
    assert_eq!(
        producer
            .read(|c| Ok(outbox::pending(c)?))
            .await
            .expect("pending"),
        0
    );
    bus.publish(&[again]).await.expect("redeliver");
    assert!(rx.recv().await.is_some());
    assert_eq!(
        effects(&consumer_db).await,
        1,
        "applied once despite two deliveries"
    );
    let parked: Vec<(String, String)> = consumer_db
        .read(|c| {
            use carebill_platform::schema::dead_letters::dsl::*;
            Ok(dead_letters.select((event_id, error)).load(c)?)
        })
        .await
        .expect("dead letters");
    assert_eq!(
        parked,
        vec![(poison.id.to_string(), "cannot apply".to_owned())]
    );
    // ... and counted in the metrics.
    let metrics = Arc::new(Metrics::new().expect("metrics"));
    let (_stop, stop_rx) = watch::channel(false);
    EventBus::InProcess(bus.clone()).watch_consumers(
        vec![Subscription {
            consumer: "c".to_owned(),
            event_types: Vec::new(),
            handler: Arc::new(|_| async { Ok(()) }.boxed()),
            batch: None,
            db: consumer_db.clone(),
        }],
        metrics.clone(),
        stop_rx,
    );
    let gauge = metrics.dead_letters.with_label_values(&["c"]);
    eventually("carebill_dead_letters counts the parked event", || {
        let g = gauge.clone();
        Box::pin(async move { g.get() == 1 })
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn two_relays_on_one_database_publish_each_event_once() {
    let (_pg, db) = pg_db();
    let events: Vec<Envelope> = (0..2000).map(|_| event("carebill.test.relay.v1")).collect();
    let batch = events.clone();
    db.write(move |c| {
        c.transaction(|c| {
            for e in &batch {
                outbox::enqueue(c, e)?;
            }
            Ok(())
        })
    })
    .await
    .expect("commit");
    let (bus, seen) = counting_bus(&db);
    let metrics = Arc::new(Metrics::new().expect("metrics"));
    let relay = |name: &str| {
        Relay::new(
            name,
            db.clone(),
            EventBus::InProcess(bus.clone()),
            metrics.clone(),
            Arc::new(Notify::new()),
        )
    };
    let (a, b) = (relay("replica-a"), relay("replica-b"));
    let (ra, rb) = tokio::join!(a.drain(), b.drain());
    ra.expect("replica a");
    rb.expect("replica b");
    assert_eq!(
        db.read(|c| Ok(outbox::pending(c)?)).await.expect("pending"),
        0
    );
    let seen = seen.lock().expect("lock");
    assert_eq!(seen.len(), events.len(), "every event was published");
    assert!(
        seen.values().all(|n| *n == 1),
        "no event was published twice"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_event_left_below_what_the_relay_published_is_still_published() {
    // The relay claims after the highest sequence number it published; an older row that
    // becomes claimable later (another replica's claim released or expired, or a transaction
    // that committed late) must still go out.
    let (_pg, db) = pg_db();
    let first = event("carebill.test.mark.v1");
    let later: Vec<Envelope> = (0..3).map(|_| event("carebill.test.mark.v1")).collect();
    let all: Vec<Envelope> = std::iter::once(first.clone())
        .chain(later.clone())
        .collect();
    db.write(move |c| c.transaction(|c| outbox::enqueue_many(c, &all)))
        .await
        .expect("commit");
    // Another replica holds the oldest row.
    let held = first.id.to_string();
    db.write(move |c| {
        Ok(diesel::sql_query(
            "UPDATE outbox SET claimed_until = now() + interval '1 hour' WHERE id = $1",
        )
        .bind::<diesel::sql_types::Text, _>(held)
        .execute(c)?)
    })
    .await
    .expect("hold");
    let (bus, seen) = counting_bus(&db);
    let metrics = Arc::new(Metrics::new().expect("metrics"));
    let relay = Relay::new(
        "test",
        db.clone(),
        EventBus::InProcess(bus.clone()),
        metrics,
        Arc::new(Notify::new()),
    );
    relay.drain().await.expect("drain");
    assert_eq!(
        db.read(|c| Ok(outbox::pending(c)?)).await.expect("pending"),
        1,
        "the held row waits"
    );
    // The other replica gives its claim up: the row lies below what this relay published.
    let held = first.id.to_string();
    db.write(move |c| {
        Ok(
            diesel::sql_query("UPDATE outbox SET claimed_until = NULL WHERE id = $1")
                .bind::<diesel::sql_types::Text, _>(held)
                .execute(c)?,
        )
    })
    .await
    .expect("release");
    relay.drain().await.expect("drain again");
    assert_eq!(
        db.read(|c| Ok(outbox::pending(c)?)).await.expect("pending"),
        0
    );
    let got = seen.lock().expect("lock").clone();
    let want: std::collections::HashMap<String, usize> = std::iter::once(&first)
        .chain(&later)
        .map(|e| (e.id.to_string(), 1))
        .collect();
    assert_eq!(got, want, "every event published once");
}

#[tokio::test(flavor = "multi_thread")]
async fn dead_letters_can_be_inspected_and_re_driven_once_the_cause_is_fixed() {
    use carebill_platform::events::rabbitmq::{dead_letters, redrive};
    let (_pg, db) = pg_db();
    let consumer = format!("test-{}", uuid::Uuid::now_v7().simple());
    let kind = format!("carebill.test.{consumer}.happened.v1");
    let (_conn, ch) = channel().await;
    declare_consumer(&ch, &consumer, std::slice::from_ref(&kind))
        .await
        .expect("declare");
    let metrics = Arc::new(Metrics::new().expect("metrics"));
    let bus =
        Arc::new(RabbitBus::new(&amqp_url(), metrics).with_retry_base(Duration::from_millis(20)));
    let fixed = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let applied = Arc::new(AtomicUsize::new(0));
    let (f, a) = (fixed.clone(), applied.clone());
    let handler: Handler = Arc::new(move |_env| {
        let ok = f.load(Ordering::SeqCst);
        if ok {
            a.fetch_add(1, Ordering::SeqCst);
        }
        async move {
            if ok {
                Ok(())
            } else {
                Err("price list missing".to_owned())
            }
        }
        .boxed()
    });
    let (stop, stop_rx) = watch::channel(false);
    bus.subscribe(
        Subscription {
            consumer: consumer.clone(),
            event_types: vec![kind.clone()],
            handler,
            batch: None,
            db,
        },
        stop_rx,
    );
    let env = event(&kind);
    bus.publish(std::slice::from_ref(&env))
        .await
        .expect("publish");
    let url = amqp_url();
    let start = Instant::now();
    let parked = loop {
        let dl = dead_letters(&url, &consumer, 10).await.expect("list");
        if !dl.is_empty() {
            break dl;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "nothing was dead-lettered"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(parked.len(), 1);
    assert_eq!(parked[0].event_id, env.id.to_string());
    assert_eq!(parked[0].last_error, "price list missing");
    assert_eq!(parked[0].attempts, 5);
    assert_eq!(
        dead_letters(&url, &consumer, 10).await.expect("list").len(),
        1,
        "listing removes nothing"
    );

    fixed.store(true, Ordering::SeqCst);
    assert_eq!(redrive(&url, &consumer, 10).await.expect("redrive"), 1);
    let a = applied.clone();
    eventually("the re-driven event is applied", move || {
        let a = a.clone();
        async move { a.load(Ordering::SeqCst) == 1 }.boxed()
    })
    .await;
    assert!(
        dead_letters(&url, &consumer, 10)
            .await
            .expect("list")
            .is_empty()
    );
    let _ = stop.send(true);
    delete_queues(&ch, &consumer).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_panicking_handler_is_a_failure_not_a_dead_consumer() {
    let dir = tempfile::tempdir().expect("tmp");
    let db = Db::connect(&dir.path().join("c.sqlite").to_string_lossy(), 2).expect("db");
    db.migrate(&[&PLATFORM_MIGRATIONS]).expect("migrate");
    let handled = Arc::new(AtomicUsize::new(0));
    let seen = handled.clone();
    let handler: Handler = Arc::new(move |env: Envelope| {
        let seen = seen.clone();
        async move {
            if env.event_type.ends_with("poison.v1") {
                panic!("a bug in the handler");
            }
            seen.fetch_add(1, Ordering::SeqCst);
            Ok(())
        }
        .boxed()
    });
    let bus = InProcessBus::new();
    bus.subscribe(Subscription {
        consumer: "c".to_owned(),
        event_types: vec!["#".to_owned()],
        handler,
        batch: None,
        db: db.clone(),
    });
    bus.publish(&[
        event("carebill.test.poison.v1"),
        event("carebill.test.good.v1"),
    ])
    .await
    .expect("publish");
    assert_eq!(
        handled.load(Ordering::SeqCst),
        1,
        "the next event is still handled"
    );
    let errors: Vec<String> = db
        .read(|c| {
            use carebill_platform::schema::dead_letters::dsl::*;
            Ok(dead_letters.select(error).load(c)?)
        })
        .await
        .expect("dead letters");
    assert_eq!(errors, vec!["the event handler panicked".to_owned()]);
}

#[tokio::test(flavor = "multi_thread")]
async fn consumer_lag_counts_what_waits_in_the_queue() {
    let (_pg, db) = pg_db();
    let consumer = format!("test-{}", uuid::Uuid::now_v7().simple());
    let kind = format!("carebill.test.{consumer}.happened.v1");
    let (_conn, ch) = channel().await;
    declare_consumer(&ch, &consumer, std::slice::from_ref(&kind))
        .await
        .expect("declare");
    let metrics = Arc::new(Metrics::new().expect("metrics"));
    // One event per message here: the lag counts messages, and a run of events of one type
    // would otherwise travel as one.
    let bus = Arc::new(RabbitBus::new(&amqp_url(), metrics.clone()).with_events_per_message(1));
    // Three events wait: the consumer is not running.
    bus.publish(&[event(&kind), event(&kind), event(&kind)])
        .await
        .expect("publish");
    let (_stop, stop_rx) = watch::channel(false);
    let handler: Handler = Arc::new(|_| async { Ok(()) }.boxed());
    EventBus::Rabbit(bus).watch_consumers(
        vec![Subscription {
            consumer: consumer.clone(),
            event_types: vec![kind],
            handler,
            batch: None,
            db,
        }],
        metrics.clone(),
        stop_rx,
    );
    let lag = metrics.consumer_lag.with_label_values(&[&consumer]);
    eventually(
        "carebill_consumer_lag_messages counts the waiting events",
        || {
            let g = lag.clone();
            Box::pin(async move { g.get() == 3 })
        },
    )
    .await;
    assert!(metrics.render().contains(&format!(
        "carebill_consumer_lag_messages{{consumer=\"{consumer}\"}} 3"
    )));
    delete_queues(&ch, &consumer).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_letter_keeps_the_cause_of_the_failure() {
    let dir = tempfile::tempdir().expect("tmp");
    let db = Db::connect(&dir.path().join("c.sqlite").to_string_lossy(), 2).expect("db");
    db.migrate(&[&PLATFORM_MIGRATIONS]).expect("migrate");
    // A consumer whose effect fails in the database: what the operator reads in the dead
    // letter is the database's own words, not "an internal error occurred".
    let sub = carebill_platform::events::subscription(
        "c",
        &["#"],
        db.clone(),
        Arc::new(Notify::new()),
        |conn, _env| {
            diesel::sql_query("UPDATE no_such_table SET x = 1").execute(conn)?;
            Ok(())
        },
    );
    let bus = InProcessBus::new();
    bus.subscribe(sub);
    bus.publish(&[event("carebill.test.any.v1")])
        .await
        .expect("publish");
    let errors: Vec<String> = db
        .read(|c| {
            use carebill_platform::schema::dead_letters::dsl::*;
            Ok(dead_letters.select(error).load(c)?)
        })
        .await
        .expect("dead letters");
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(
        errors[0].starts_with("internal: an internal error occurred: ")
            && errors[0].contains("no such table: no_such_table"),
        "{}",
        errors[0]
    );
}
