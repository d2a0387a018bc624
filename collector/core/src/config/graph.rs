//! The pipeline graph as `spider validate` prints it.

use std::fmt;

use super::CollectorConfig;
use crate::component::{ComponentId, ComponentKind};

impl fmt::Display for CollectorConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (id, pipeline) in &self.pipelines {
            writeln!(f, "pipeline {id}")?;
            writeln!(f, "  receivers:  {}", list(&pipeline.receivers))?;
            let processors = if pipeline.processors.is_empty() {
                "(none)".to_owned()
            } else {
                pipeline
                    .processors
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(" → ")
            };
            writeln!(f, "  processors: {processors}")?;
            let exporters: Vec<_> = pipeline
                .exporters
                .iter()
                .map(|id| match self.component(ComponentKind::Exporter, id) {
                    Some(spec) => {
                        let queue = &spec.delivery.sending_queue;
                        format!(
                            "{id} (queue {}, when full: {})",
                            queue.queue_size, queue.when_full
                        )
                    }
                    None => id.to_string(),
                })
                .collect();
            writeln!(f, "  exporters:  {}", exporters.join(", "))?;
        }
        Ok(())
    }
}

fn list(ids: &[ComponentId]) -> String {
    ids.iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}
