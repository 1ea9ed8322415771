//! The metrics layer beside the bare service: with no recorder installed,
//! with the Prometheus recorder of mcp-metrics, and feeding a `Stats`.
//!
//! Every id answers one `tools/call` of a registered tool at once; the
//! recording ids add what the layer costs: two clock reads, the label
//! lookup, the in-flight gauge, the duration histogram (and the stats
//! window). `clock_reads` is the two clock reads alone, the floor of any
//! layer that times requests; `no_recorder` reads none, since nothing
//! would keep what it measured.

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::{hint::black_box, time::Duration};

use common::{Call, work};
use criterion::{Criterion, criterion_group, criterion_main};
use futures::FutureExt;
use mcp_metrics::{MetricsLayer, PrometheusExporter, Stats};
use tower::{Layer, Service, service_fn};

fn layer() -> MetricsLayer {
    MetricsLayer::builder()
        .tools(["search", "fetch"])
        .build()
        .unwrap()
}

fn metrics(c: &mut Criterion) {
    let mut group = c.benchmark_group("metrics");
    group
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(30);

    let mut bare = service_fn(work);
    group.bench_function("bare", |b| {
        b.iter(|| {
            bare.call(black_box(Call("search")))
                .now_or_never()
                .unwrap()
                .unwrap()
        })
    });

    let clock = mcp_service::Clock::new();
    group.bench_function("clock_reads", |b| {
        b.iter(|| black_box(clock.nanos()).wrapping_add(black_box(clock.nanos())))
    });

    // No recorder anywhere yet, no stats, no subscriber: nothing to measure for.
    let mut unrecorded = layer().layer(service_fn(work));
    group.bench_function("no_recorder", |b| {
        b.iter(|| {
            unrecorded
                .call(black_box(Call("search")))
                .now_or_never()
                .unwrap()
                .unwrap()
        })
    });

    let stats = Stats::new();
    let mut counted = MetricsLayer::builder()
        .tools(["search", "fetch"])
        .stats(stats.clone())
        .build()
        .unwrap()
        .layer(service_fn(work));
    group.bench_function("stats", |b| {
        b.iter(|| {
            counted
                .call(black_box(Call("search")))
                .now_or_never()
                .unwrap()
                .unwrap()
        })
    });
    assert!(stats.snapshot().requests_total > 0);

    // Drained often: the bench records millions of samples between renders.
    let (recorder, exporter) = PrometheusExporter::builder()
        .upkeep_interval(Duration::from_millis(100))
        .build()
        .unwrap();
    let _recorder = metrics::set_default_local_recorder(&recorder);
    let mut exported = layer().layer(service_fn(work));
    group.bench_function("prometheus", |b| {
        b.iter(|| {
            exported
                .call(black_box(Call("search")))
                .now_or_never()
                .unwrap()
                .unwrap()
        })
    });
    assert!(
        exporter
            .render()
            .contains("mcp_server_operation_duration_seconds_bucket")
    );
    group.finish();
}

criterion_group!(benches, metrics);
criterion_main!(benches);
