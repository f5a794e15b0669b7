//! One wasm container: its prepared program and configuration, its state, and
//! the task that runs it. The task runs the instance under the CPU meter and
//! an abort switch; stopping flips the switch, which drops the instance (and
//! its Store) at once if the guest waits in a host call, or at the next epoch
//! tick (≤ 10 ms) if it spins.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::SystemTime;

use futures::future::{AbortHandle, Abortable, Either};
use tokio::sync::watch;
use wasmtime_wasi::WasiCtxBuilder;

use super::cpu::Metered;
use super::exit::{classify, Exit, EXIT_HOST_ERROR};
use super::guest::configure_wasi;
use super::http::serve::Server;
use super::net::p1::listen_env;
use super::net::{GuestNet, PodNet};
use super::program::{Program, ProgramKind};
use super::run::Meters;
use super::stdio::LogOutput;
use crate::cri::{ContainerConfig, ContainerId, ContainerState, CriError, ExitReason, SandboxId};
use crate::logs::{LogHub, LogStream, LogWriter, RotationPolicy};

pub struct Container {
    pub id: ContainerId,
    pub sandbox: SandboxId,
    pub config: ContainerConfig,
    pub program: Program,
    pub meters: Arc<Meters>,
    /// The sandbox's pod network; `None`: the guest has no sockets.
    pub net: Option<Arc<PodNet>>,
    state: watch::Sender<ContainerState>,
    abort: Mutex<Option<AbortHandle>>,
    /// Set when the container stops; its exec instances end with it.
    stopping: watch::Sender<bool>,
}

impl Container {
    pub fn new(id: ContainerId, sandbox: SandboxId, config: ContainerConfig, program: Program, net: Option<Arc<PodNet>>) -> Self {
        Container {
            id,
            sandbox,
            config,
            program,
            meters: Arc::new(Meters::default()),
            net,
            state: watch::channel(ContainerState::Created).0,
            abort: Mutex::new(None),
            stopping: watch::channel(false).0,
        }
    }

    pub fn state(&self) -> ContainerState {
        self.state.borrow().clone()
    }

    pub fn is_running(&self) -> bool {
        matches!(*self.state.borrow(), ContainerState::Running { .. })
    }

    /// Resolves with the final state once the container has exited.
    pub async fn wait(&self) -> ContainerState {
        let mut state = self.state.subscribe();
        // The sender lives in `self`, so the channel cannot close while we borrow it.
        let exited = state.wait_for(|s| matches!(s, ContainerState::Exited { .. })).await;
        exited.map(|s| s.clone()).unwrap_or_else(|_| self.state())
    }

    /// A receiver that sees `true` once the container is stopping.
    pub fn stopping(&self) -> watch::Receiver<bool> {
        self.stopping.subscribe()
    }

    /// Opens the log, builds the WASI context and spawns the task that runs the guest.
    pub fn start(self: &Arc<Self>, hub: &LogHub, rotation: RotationPolicy) -> Result<(), CriError> {
        let started_at = SystemTime::now();
        let claimed = self.state.send_if_modified(|state| {
            let created = matches!(state, ContainerState::Created);
            if created {
                *state = ContainerState::Running { started_at };
            }
            created
        });
        if !claimed {
            return Err(CriError::FailedPrecondition(format!("container {:?} was already started", self.id)));
        }
        let launch = self.prepare_launch(hub, rotation);
        let (writer, wasi, net) = match launch {
            Ok(launch) => launch,
            Err(err) => {
                self.finish(Exit { code: EXIT_HOST_ERROR, reason: ExitReason::Error, message: Some(err.to_string()) }, started_at);
                return Err(err);
            }
        };
        let run = match self.launch_program(wasi, &writer, net) {
            Ok(run) => run,
            Err(err) => {
                self.finish(Exit { code: EXIT_HOST_ERROR, reason: ExitReason::Error, message: Some(err.to_string()) }, started_at);
                return Err(err);
            }
        };
        let (abort, registration) = AbortHandle::new_pair();
        *self.abort_slot() = Some(abort);
        let limits = self.config.limits;
        let this = Arc::clone(self);
        tokio::spawn(async move {
            let metered = Metered::new(run, limits.cpu_millis, this.meters.cpu_nanos.clone());
            let exit = match Abortable::new(metered, registration).await {
                Ok(result) => classify(&result, &this.meters.facts(&limits)),
                Err(_aborted) => Exit::killed(),
            };
            // Ends `kubectl logs -f`; any unterminated last line is written out.
            if let Err(err) = writer.close() {
                tracing::warn!(container = ?this.id, error = %err, "closing the container log");
            }
            this.finish(exit, started_at);
        });
        Ok(())
    }

    fn prepare_launch(&self, hub: &LogHub, rotation: RotationPolicy) -> Result<(LogWriter, WasiCtxBuilder, GuestNet), CriError> {
        let config = &self.config;
        let writer = LogWriter::create(hub, &config.log_path, rotation)
            .map_err(|e| CriError::Io { context: format!("log {}", config.log_path.display()), source: std::io::Error::other(e) })?;
        let mut builder = WasiCtxBuilder::new();
        builder
            .stdout(LogOutput::new(writer.clone(), LogStream::Stdout, self.meters.output_bytes.clone()))
            .stderr(LogOutput::new(writer.clone(), LogStream::Stderr, self.meters.output_bytes.clone()));
        configure_wasi(&mut builder, &config.argv, &config.env, config.working_dir.as_deref(), &config.mounts)?;
        let log = writer.clone();
        let report = Arc::new(move |line: String| {
            // The guest sees only access-denied; the log says why.
            let _ = log.write(LogStream::Stderr, line.as_bytes());
        });
        let net = self.guest_net(&mut builder, report, true)?;
        Ok((writer, builder, net))
    }

    /// The future that runs the container: its program's instance, or for a `wasi:http`
    /// component the server that makes an instance per request.
    fn launch_program(
        &self,
        wasi: WasiCtxBuilder,
        writer: &LogWriter,
        net: GuestNet,
    ) -> Result<impl std::future::Future<Output = wasmtime::Result<()>> + Send + 'static, CriError> {
        let limits = self.config.limits;
        let Program::Http(pre) = &self.program else {
            return Ok(Either::Left(self.program.run(wasi, limits, self.meters.clone(), net)));
        };
        let Some(pod) = &net.pod else {
            return Err(CriError::InvalidConfig("a wasi:http component needs the pod network to serve on".into()));
        };
        let listeners = pod.listeners().map_err(|source| CriError::Io { context: "opening the pod's ports".into(), source })?;
        let config = &self.config;
        let server = Arc::new(Server {
            pre: pre.clone(),
            argv: config.argv.clone(),
            env: config.env.clone(),
            working_dir: config.working_dir.clone(),
            mounts: config.mounts.clone(),
            log: writer.clone(),
            limits,
            meters: self.meters.clone(),
            pod: pod.clone(),
            requests: Default::default(),
        });
        Ok(Either::Right(server.run(listeners, self.stopping())))
    }

    /// Stops the container, giving a server (a `wasi:http` component) up to `grace` to finish
    /// the requests in flight; any other guest has no way to be asked, and is dropped at once.
    pub async fn stop_within(&self, grace: std::time::Duration) {
        if matches!(self.program, Program::Http(_)) && self.is_running() {
            self.stopping.send_replace(true);
            let _ = tokio::time::timeout(grace, self.wait()).await;
        }
        self.stop();
    }

    /// The network of one instance of this container's program: sockets for a component; for
    /// a module that `listens` (the container itself, not an exec), the listening sockets of
    /// the pod's ports, announced in `LISTEN_FDS`.
    pub fn guest_net(&self, builder: &mut WasiCtxBuilder, report: Arc<dyn Fn(String) + Send + Sync>, listens: bool) -> Result<GuestNet, CriError> {
        let preopens = u32::try_from(self.config.mounts.len()).unwrap_or(u32::MAX);
        let Some(pod) = &self.net else { return Ok(GuestNet { pod: None, listeners: Vec::new(), preopens }) };
        let mut listeners = Vec::new();
        match self.program.kind() {
            ProgramKind::Module if listens => {
                listeners = pod.listeners().map_err(|source| CriError::Io { context: "opening the pod's ports".into(), source })?;
                builder.envs(&listen_env(&pod.tcp_ports));
            }
            ProgramKind::Module => {}
            ProgramKind::Component => pod.open_sockets(builder, report),
        }
        Ok(GuestNet { pod: Some(pod.clone()), listeners, preopens })
    }

    /// Stops the container (and its execs). WASI has no signals to ask a guest to end, so the
    /// grace period has nothing to wait for: the instance is dropped at once. Idempotent.
    pub fn stop(&self) {
        self.stopping.send_replace(true);
        if let Some(abort) = self.abort_slot().take() {
            abort.abort();
        }
        let now = SystemTime::now();
        // Never started: there is no task to record the end.
        self.state.send_if_modified(|state| {
            let created = matches!(state, ContainerState::Created);
            if created {
                let exit = Exit::killed();
                *state = ContainerState::Exited { code: exit.code, reason: exit.reason, message: exit.message, started_at: now, finished_at: now };
            }
            created
        });
    }

    fn finish(&self, exit: Exit, started_at: SystemTime) {
        self.stopping.send_replace(true);
        self.abort_slot().take();
        self.state.send_replace(ContainerState::Exited {
            code: exit.code,
            reason: exit.reason,
            message: exit.message,
            started_at,
            finished_at: SystemTime::now(),
        });
    }

    fn abort_slot(&self) -> MutexGuard<'_, Option<AbortHandle>> {
        self.abort.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}
