//! sofia-nua's SUBSCRIBE client against sofia-nea's event server (its
//! tokio driver on an nta agent), over UDP on 127.0.0.1: subscribe and the
//! first NOTIFY, a state change, refreshes, unsubscribe, expiry on the
//! server's side, pending then approved, and rejected.

use std::net::SocketAddr;
use std::time::Duration;

use sofia_nea::{Decision, Notifier, Presence, Server, ServerEvent};
use sofia_nua::{Config, Event, EventKind, Nua, SubState};
use sofia_tport::{Tport, Transport};
use tokio::sync::mpsc::Receiver;

const WAIT: Duration = Duration::from_secs(10);

/// A presence server whose subscriptions last at most `max_expires`
/// seconds; requests other than SUBSCRIBE are left unanswered.
async fn presence(max_expires: u32) -> (Server, Receiver<ServerEvent>, SocketAddr) {
    let (tport, incoming) =
        Tport::bind(sofia_tport::Config::new(["sip:127.0.0.1:0;transport=udp"]))
            .await
            .unwrap();
    let addr = tport.local_addr(Transport::Udp).unwrap();
    let (agent, mut requests, _others) =
        sofia_nta::Agent::new(tport, incoming, sofia_nta::Config::default());
    let mut notifier = Notifier::new(sofia_nea::Config {
        contact: format!("sip:presence@{addr}"),
        min_expires: 1,
        max_expires,
        ..sofia_nea::Config::default()
    });
    notifier.add_package(Box::new(Presence));
    let server = Server::new(agent, notifier);
    let events = server.events().unwrap();
    let s = server.clone();
    tokio::spawn(async move {
        while let Some(req) = requests.recv().await {
            let _ = s.handle(req);
        }
    });
    (server, events, addr)
}

async fn next(events: &mut Receiver<Event>) -> Event {
    tokio::time::timeout(WAIT, events.recv())
        .await
        .expect("an event in time")
        .expect("the user agent runs")
}

/// The next `i_notify`, with its body.
async fn notify(events: &mut Receiver<Event>) -> (Option<SubState>, String) {
    loop {
        let ev = next(events).await;
        if ev.kind == EventKind::INotify {
            let body = ev
                .message
                .map(|m| String::from_utf8_lossy(m.body_bytes()).into_owned())
                .unwrap_or_default();
            return (ev.substate, body);
        }
    }
}

async fn server_event(events: &mut Receiver<ServerEvent>) -> ServerEvent {
    tokio::time::timeout(WAIT, events.recv())
        .await
        .expect("a server event in time")
        .expect("the server runs")
}

#[tokio::test]
async fn subscribe_notify_state_change_refresh_and_unsubscribe() {
    let (server, mut sevents, addr) = presence(2).await;
    let (ua, mut events) = Nua::new(Config::default()).await.unwrap();
    let alice = ua.handle(&format!("sip:alice@{addr}")).unwrap();
    alice
        .subscribe("presence", Some("application/pidf+xml"), Some(2))
        .unwrap();
    let (state, body) = notify(&mut events).await;
    assert_eq!(state, Some(SubState::Active));
    assert!(body.contains("<basic>closed</basic>"), "{body}");
    let ServerEvent::Subscribed(info) = server_event(&mut sevents).await else {
        panic!("no Subscribed event");
    };

    // A state change reaches the subscriber.
    let open = Presence::pidf(&info.entity, true, Some("at my desk"));
    assert_eq!(
        server.set_state("presence", &info.resource, open).unwrap(),
        1
    );
    let (state, body) = notify(&mut events).await;
    assert_eq!(state, Some(SubState::Active));
    assert!(
        body.contains("<basic>open</basic>") && body.contains("at my desk"),
        "{body}"
    );

    // The server grants 2 s: the client refreshes (each refresh gets its
    // NOTIFY) and the subscription outlives several of them.
    let mut refreshes = 0;
    while refreshes < 3 {
        let ev = next(&mut events).await;
        if ev.kind == EventKind::RSubscribe && ev.status == 200 {
            refreshes += 1;
        }
    }
    assert_eq!(server.len(), 1);

    // Unsubscribe: the final NOTIFY says terminated.
    alice.unsubscribe().unwrap();
    loop {
        let ev = next(&mut events).await;
        if ev.kind == EventKind::INotify && ev.substate == Some(SubState::Terminated) {
            break;
        }
    }
    loop {
        if let ServerEvent::Ended { .. } = server_event(&mut sevents).await {
            break;
        }
    }
    assert_eq!(server.len(), 0);
}

#[tokio::test]
async fn a_subscription_not_refreshed_expires_at_the_server() {
    let (server, mut sevents, addr) = presence(1).await;
    let (ua, mut events) = Nua::new(Config::default()).await.unwrap();
    let alice = ua.handle(&format!("sip:alice@{addr}")).unwrap();
    alice.subscribe("presence", None, Some(1)).unwrap();
    assert_eq!(notify(&mut events).await.0, Some(SubState::Active));
    // The subscriber goes away without unsubscribing: the server ends the
    // subscription when its second runs out.
    alice.destroy().unwrap();
    loop {
        match server_event(&mut sevents).await {
            ServerEvent::Notified { state, .. } if state.starts_with("terminated") => {
                assert!(state.contains("reason=timeout"), "{state}");
            }
            ServerEvent::Ended { .. } => break,
            _ => {}
        }
    }
    assert_eq!(server.len(), 0);
}

#[tokio::test]
async fn a_pending_subscription_is_approved_then_another_rejected() {
    let (server, mut sevents, addr) = presence(3600).await;
    server.set_authorizer(|_| Decision::Pending);
    let (ua, mut events) = Nua::new(Config::default()).await.unwrap();
    let alice = ua.handle(&format!("sip:alice@{addr}")).unwrap();
    alice.subscribe("presence", None, Some(600)).unwrap();
    let (state, body) = notify(&mut events).await;
    assert_eq!(state, Some(SubState::Pending));
    assert!(body.is_empty(), "no state while pending: {body}");
    let sub = loop {
        if let ServerEvent::Subscribed(info) = server_event(&mut sevents).await {
            break info.id;
        }
    };
    server.approve(sub).unwrap();
    let (state, body) = notify(&mut events).await;
    assert_eq!(state, Some(SubState::Active));
    assert!(body.contains("<basic>"), "{body}");

    // A second subscriber is held, then rejected: terminated;reason=rejected.
    let (ua2, mut events2) = Nua::new(Config::default()).await.unwrap();
    let bob = ua2.handle(&format!("sip:alice@{addr}")).unwrap();
    bob.subscribe("presence", None, Some(600)).unwrap();
    assert_eq!(notify(&mut events2).await.0, Some(SubState::Pending));
    let sub = loop {
        if let ServerEvent::Subscribed(info) = server_event(&mut sevents).await {
            break info.id;
        }
    };
    server.reject(sub).unwrap();
    loop {
        let ev = next(&mut events2).await;
        if ev.kind == EventKind::INotify && ev.substate == Some(SubState::Terminated) {
            let msg = ev.message.unwrap();
            let state = msg
                .header(sofia_msg::HeaderName::SubscriptionState)
                .unwrap();
            assert!(state.contains("reason=rejected"), "{state}");
            break;
        }
    }
    // A subscription refused outright gets 403.
    server.set_authorizer(|_| Decision::Reject);
    let (ua3, mut events3) = Nua::new(Config::default()).await.unwrap();
    let carol = ua3.handle(&format!("sip:alice@{addr}")).unwrap();
    carol.subscribe("presence", None, Some(600)).unwrap();
    loop {
        let ev = next(&mut events3).await;
        if ev.kind == EventKind::RSubscribe {
            assert_eq!(ev.status, 403);
            break;
        }
    }
}
