//! `redis-drill image build`.

use super::error::CliError;
use super::output::print_json;
use crate::exit;
use crate::runtime::docker::DockerRuntime;
use crate::runtime::image;

/// Build the local Redis image (FROM scratch, from this host's redis-server).
#[derive(clap::Args, Debug)]
pub(crate) struct Image {
    #[command(subcommand)]
    command: ImageCommand,
}

/// What `image` does (one verb today).
#[derive(clap::Subcommand, Debug)]
enum ImageCommand {
    /// Build a node image FROM scratch from a server binary (by default
    /// this host's redis-server) and the host's redis-cli and iptables.
    Build {
        /// The server the image runs: redis (the host's), redis-7.0,
        /// valkey-8.1, valkey-9.1 (installed by ./bootstrap.sh), or a path.
        #[arg(long, default_value = "redis", value_parser = crate::topology::Server::parse)]
        server: crate::topology::Server,
        /// Image name and tag to build (default: the server's own, which
        /// `up` uses: redis-drill/redis:local, redis-drill/valkey-9.1:local…).
        #[arg(long)]
        tag: Option<String>,
    },
}

impl Image {
    /// Build the image and print what went into it.
    pub(crate) async fn run(self, json: bool) -> Result<i32, CliError> {
        let ImageCommand::Build { server, tag } = self.command;
        let tag = tag.unwrap_or_else(|| image::for_server(&server));
        let found = crate::runtime::servers::find(&server)?;
        let docker = DockerRuntime::connect().await?;
        let built = image::build_for(docker.client(), &tag, &found.binary).await?;
        if json {
            print_json(&built);
        } else {
            crate::outln!(
                "built {} ({}, {} files, {} KiB context, iptables: {}) in {} ms",
                built.image,
                found.version,
                built.files,
                built.context_bytes / 1024,
                if built.iptables { "yes" } else { "no" },
                built.elapsed_ms
            );
        }
        Ok(exit::SUCCESS)
    }
}
