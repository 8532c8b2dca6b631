//! The archive's lists, fetched ahead of the archive: up to [`AHEAD`] lists in flight, each a
//! task of its own that fetches its next page while the archive takes the one before. The
//! archive still takes resources in the plan's order; only the waiting overlaps.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;
use tokio::task::JoinSet;

use super::super::collect::{Page, Source};
use super::super::filter::ResourceDesc;

/// Lists in flight besides the one being archived. Each holds at most two pages (one read,
/// one in flight): with 500 items of a few KiB a page, a few MiB at most.
pub(super) const AHEAD: usize = 4;

/// One list's pages as its task sends them (an error ends it).
type PageRx = mpsc::Receiver<Result<Page, kube::Error>>;

/// One list to make: a resource in one namespace (or across all).
pub(super) struct Job {
    pub resource: ResourceDesc,
    pub scope: Option<String>,
}

/// The lists a backup makes, in order, started [`AHEAD`] at a time. Dropping it stops every
/// list still running.
pub(super) struct Lists {
    source: Source,
    selector: Option<String>,
    waiting: VecDeque<Job>,
    /// The lists started, each with its namespace, in the jobs' order.
    started: VecDeque<(Option<String>, PageRx)>,
    tasks: JoinSet<()>,
    /// Time the archive spent waiting for a page.
    pub waited: Duration,
}

impl Lists {
    /// `jobs`, listed through `source` (its counter of time waited is left alone: what counts
    /// is [`Lists::waited`], the archive's own wait).
    pub fn new(source: &Source, selector: Option<String>, jobs: Vec<Job>) -> Lists {
        let mut lists = Lists {
            source: source.uncounted(),
            selector,
            waiting: jobs.into(),
            started: VecDeque::new(),
            tasks: JoinSet::new(),
            waited: Duration::ZERO,
        };
        while lists.started.len() <= AHEAD && lists.start_next() {}
        lists
    }

    fn start_next(&mut self) -> bool {
        let Some(job) = self.waiting.pop_front() else {
            return false;
        };
        // One page waits in the channel while the task fetches the next.
        let (tx, rx) = mpsc::channel(1);
        let scope = job.scope.clone();
        let source = self.source.clone();
        let selector = self.selector.clone();
        self.tasks.spawn(async move {
            let mut token: Option<String> = None;
            loop {
                let page = source
                    .list_page(
                        &job.resource,
                        job.scope.as_deref(),
                        selector.as_deref(),
                        token.as_deref(),
                    )
                    .await;
                let next = page.as_ref().ok().and_then(|p| p.next.clone());
                // The archive stopped reading (the backup failed): stop.
                if tx.send(page).await.is_err() {
                    return;
                }
                match next {
                    Some(next) => token = Some(next),
                    None => return,
                }
            }
        });
        self.started.push_back((scope, rx));
        true
    }

    /// The next list's pages, in the order the jobs were given; starts one more list.
    pub fn next_list(&mut self) -> Option<Pages<'_>> {
        let (scope, rx) = self.started.pop_front()?;
        self.start_next();
        Some(Pages {
            scope,
            rx,
            lists: self,
        })
    }
}

/// One list's pages, as they come.
pub(super) struct Pages<'l> {
    scope: Option<String>,
    rx: PageRx,
    lists: &'l mut Lists,
}

impl Pages<'_> {
    /// The namespace listed (`None`: across the cluster).
    pub fn scope(&self) -> Option<&str> {
        self.scope.as_deref()
    }

    /// The next page; `None` once the list is done (after its last page or an error).
    pub async fn next(&mut self) -> Option<Result<Page, kube::Error>> {
        let started = Instant::now();
        let page = self.rx.recv().await;
        self.lists.waited += started.elapsed();
        page
    }
}
