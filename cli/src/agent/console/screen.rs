//! The terminal while the console runs: raw mode and the alternate screen (restored when the
//! [`Screen`] drops, and by a panic hook first), a thread reading key and resize events, and a
//! task redrawing the view on every tick, resize or event. Ctrl+C (a key in raw mode) asks the
//! agent to stop, as SIGINT does without the console.

use std::io::Stdout;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::Context;
use ratatui::Terminal;
use ratatui::backend::CrosstermBackend;
use ratatui::crossterm::event::{self, Event, KeyCode, KeyEventKind, KeyModifiers};
use ratatui::crossterm::terminal::{
    EnterAlternateScreen, LeaveAlternateScreen, disable_raw_mode, enable_raw_mode,
};
use ratatui::crossterm::{cursor, execute};
use sluice_agent::InspectApi;
use sluice_agent::config::ConsoleColor;
use tokio::sync::{Notify, mpsc};

use super::render::draw;
use super::{ConsoleView, Notes};

/// How often the view is read and redrawn (only changed cells reach the terminal).
const TICK: Duration = Duration::from_millis(250);
/// How long the input thread waits for an event before checking whether to stop.
const INPUT_POLL: Duration = Duration::from_millis(200);
/// Requests read per frame; a frame shows as many as fit.
const MAX_REQUESTS: usize = 200;

/// The console on the terminal. Dropping it gives the terminal back.
pub struct Screen {
    stop: Arc<AtomicBool>,
    quit: Arc<Notify>,
    redraw: Arc<Notify>,
    task: tokio::task::JoinHandle<()>,
}

fn restore() {
    let _ = disable_raw_mode();
    let _ = execute!(std::io::stdout(), LeaveAlternateScreen, cursor::Show);
}

impl Screen {
    /// Takes over the terminal and starts drawing `api`'s state and the events' `notes`.
    pub fn start(api: InspectApi, notes: Notes, color: ConsoleColor) -> anyhow::Result<Screen> {
        enable_raw_mode().context("switching the terminal to raw mode")?;
        let mut stdout = std::io::stdout();
        if let Err(e) = execute!(stdout, EnterAlternateScreen, cursor::Hide) {
            restore();
            return Err(e).context("entering the alternate screen");
        }
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            restore();
            previous(info);
        }));
        let mut terminal =
            Terminal::new(CrosstermBackend::new(stdout)).context("starting the console")?;
        let _ = terminal.clear();
        let stop = Arc::new(AtomicBool::new(false));
        let quit = Arc::new(Notify::new());
        let redraw = Arc::new(Notify::new());
        let (resized_tx, resized_rx) = mpsc::unbounded_channel();
        spawn_input(stop.clone(), quit.clone(), resized_tx);
        let task = tokio::spawn(draw_loop(
            terminal,
            api,
            notes,
            color,
            redraw.clone(),
            resized_rx,
        ));
        Ok(Screen {
            stop,
            quit,
            redraw,
            task,
        })
    }

    /// Resolves when the user asked to quit (Ctrl+C).
    pub fn quit(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        let quit = self.quit.clone();
        async move { quit.notified().await }
    }

    /// Redraws soon (something the events changed).
    pub fn poke(&self) -> Arc<Notify> {
        self.redraw.clone()
    }
}

impl Drop for Screen {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        self.task.abort();
        restore();
    }
}

/// Reads terminal events on a thread of its own (crossterm's reads block) until `stop`.
fn spawn_input(stop: Arc<AtomicBool>, quit: Arc<Notify>, resized: mpsc::UnboundedSender<()>) {
    std::thread::spawn(move || {
        while !stop.load(Ordering::Relaxed) {
            match event::poll(INPUT_POLL) {
                Ok(false) => continue,
                Ok(true) => {}
                Err(_) => return,
            }
            match event::read() {
                Ok(Event::Key(k))
                    if k.kind == KeyEventKind::Press
                        && k.modifiers.contains(KeyModifiers::CONTROL)
                        && k.code == KeyCode::Char('c') =>
                {
                    quit.notify_one();
                }
                Ok(Event::Resize(..)) => {
                    let _ = resized.send(());
                }
                Ok(_) => {}
                Err(_) => return,
            }
        }
    });
}

async fn draw_loop(
    mut terminal: Terminal<CrosstermBackend<Stdout>>,
    api: InspectApi,
    notes: Notes,
    color: ConsoleColor,
    redraw: Arc<Notify>,
    mut resized: mpsc::UnboundedReceiver<()>,
) {
    let mut tick = tokio::time::interval(TICK);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            () = redraw.notified() => {}
            Some(()) = resized.recv() => {
                // A new size: paint everything again (drawing resizes the buffers).
                let _ = terminal.clear();
            }
        }
        let view = ConsoleView::read(&api, &notes, color, MAX_REQUESTS);
        if terminal.draw(|f| draw(f, &view)).is_err() {
            return;
        }
    }
}
