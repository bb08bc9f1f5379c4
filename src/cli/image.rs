//! `redis-drill image build`.

use super::error::CliError;
use super::output::print_json;
use crate::exit;
use crate::runtime::docker::DockerRuntime;
use crate::runtime::image::{self, DEFAULT_IMAGE};

/// Build the local Redis image (FROM scratch, from this host's redis-server).
#[derive(clap::Args, Debug)]
pub(crate) struct Image {
    #[command(subcommand)]
    command: ImageCommand,
}

/// What `image` does (one verb today).
#[derive(clap::Subcommand, Debug)]
enum ImageCommand {
    /// Build the default image FROM scratch from this host's redis-server.
    Build {
        /// Image name and tag to build.
        #[arg(long, default_value = DEFAULT_IMAGE)]
        tag: String,
    },
}

impl Image {
    /// Build the image and print what went into it.
    pub(crate) async fn run(self, json: bool) -> Result<i32, CliError> {
        let ImageCommand::Build { tag } = self.command;
        let docker = DockerRuntime::connect().await?;
        let built = image::build(docker.client(), &tag).await?;
        if json {
            print_json(&built);
        } else {
            crate::outln!(
                "built {} (redis {}, {} files, {} KiB context, iptables: {}) in {} ms",
                built.image,
                built.redis_version,
                built.files,
                built.context_bytes / 1024,
                if built.iptables { "yes" } else { "no" },
                built.elapsed_ms
            );
        }
        Ok(exit::SUCCESS)
    }
}
