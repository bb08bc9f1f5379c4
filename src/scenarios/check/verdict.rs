//! The verdict: every SLO of the scenario judged against the sections (and
//! each region's apart), the run's own checks beside them — a cluster that
//! fails its check at the end, a fault that did not hit when asked, a fault
//! that could not be performed, a client library's adapter that failed, a
//! scenario held to nothing — the verdict
//! they give, and whether a drill written to fail failed as it should.

use std::collections::BTreeMap;

use super::{Run, Sections, slo};
use crate::report::{self, Bound, Expected, SloResult, Verdict};

/// What the SLOs and the run's own checks say.
pub(crate) struct Judged {
    pub slo: Vec<SloResult>,
    pub verdict: Verdict,
    pub expected: Option<Expected>,
}

/// Judge the run's SLOs against `sections`.
pub(crate) fn judge(run: &Run, sections: &Sections) -> Judged {
    let r = run.record;
    // A run stored before an SLO was renamed is checked under its new name.
    let limits: BTreeMap<String, f64> = (r.slo.iter())
        .map(|(name, &limit)| {
            let name = slo::renamed(name).unwrap_or(name);
            (name.to_string(), limit)
        })
        .collect();
    let mut slo = report::evaluate_slos(&limits, |name| sections.of(name), slo::bound_of);
    for (region, limits) in &r.slo_by_region {
        let at = slo::InRegion {
            region,
            clients: sections.regions.iter().find(|g| &g.region == region),
            readers: (sections.checks.stampede.iter())
                .flat_map(|s| &s.by_region)
                .find(|g| &g.region == region),
        };
        let mut by_region =
            report::evaluate_slos(limits, |name| sections.of_region(at, name), slo::bound_of);
        for s in &mut by_region {
            s.name = slo::region_slo_name(&s.name, region);
        }
        slo.extend(by_region);
    }
    let entry = |name: &str, value, result, note: String| SloResult {
        name: name.into(),
        limit: 0.0,
        bound: Bound::AtMost,
        value,
        result,
        note: Some(note),
    };
    // A run held to nothing shows nothing: no verdict but `unknown`.
    if r.slo.is_empty() && r.slo_by_region.is_empty() {
        slo.push(entry(
            "slo",
            None,
            Verdict::Unknown,
            "the scenario set no SLO: the run is held to nothing, so it passes nothing".into(),
        ));
    }
    // A cluster that fails its own check at the end fails the run, SLO or not.
    if !sections.checks.cluster_check_ok {
        slo.push(entry(
            "cluster_check",
            Some(1.0),
            Verdict::Fail,
            "the cluster failed its own check at the end".into(),
        ));
    }
    // A fault that did not hit when the scenario asked: the drill did not
    // do what it says.
    for w in &r.faults {
        if let Some(why) = &w.mistimed {
            slo.push(entry(
                "fault_timing",
                Some(1.0),
                Verdict::Fail,
                format!("{} {}: {why}", w.fault, w.target),
            ));
        }
    }
    // A fault the runtime could not perform: the drill ran, but not the
    // drill it says, so it passes nothing.
    let skipped: Vec<String> = (r.faults.iter())
        .filter_map(|w| {
            let why = w.skipped.as_ref()?;
            Some(format!("{} {}: not performed: {why}", w.fault, w.target))
        })
        .collect();
    if !skipped.is_empty() {
        slo.push(entry(
            "faults_performed",
            Some(skipped.len() as f64),
            Verdict::Unknown,
            format!(
                "{} of {} fault(s) could not be performed here, so the drill ran without them: {}",
                skipped.len(),
                r.faults.len(),
                skipped.join("; ")
            ),
        ));
    }
    // A user's hook that failed or hung: the fault (or its undo) is not
    // known to have happened as the drill says.
    let hooks: Vec<String> = (r.faults.iter())
        .flat_map(|w| &w.hooks)
        .filter(|h| !h.ok())
        .map(|h| h.outcome())
        .collect();
    if !hooks.is_empty() {
        slo.push(entry(
            "hooks_ok",
            Some(hooks.len() as f64),
            Verdict::Unknown,
            format!(
                "{} hook run(s) did not end with exit 0 in time, so the faults are not known to have happened as scheduled: {}",
                hooks.len(),
                hooks.join("; ")
            ),
        ));
    }
    // A client library whose adapter failed: the drill was asked to
    // measure it and could not, so it passes nothing.
    let broken: Vec<&str> = (r.engine.adapters.iter())
        .filter_map(|a| a.problem.as_deref())
        .collect();
    if !broken.is_empty() {
        slo.push(entry(
            "adapters_ok",
            Some(broken.len() as f64),
            Verdict::Unknown,
            format!(
                "{} client library adapter(s) failed, so their libraries' figures are unknown: {}",
                broken.len(),
                broken.join("; ")
            ),
        ));
    }
    let verdict = report::Report::verdict_from(&slo);
    let expected = r.expect.as_ref().map(|e| report::expectation(e, &slo));
    Judged {
        slo,
        verdict,
        expected,
    }
}
