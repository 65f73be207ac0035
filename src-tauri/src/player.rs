//! The case view's player and the live-source dialog: any frame of a stored video or frame
//! folder as a JPEG `data:` URL (decoded by `verity::media::seek`, since the webview cannot
//! play most CCTV containers), the webcams present, and queuing a live recording.
use crate::commands::CommandError;
use crate::state::AppState;
use serde::Serialize;
use std::path::{Path, PathBuf};
use tauri::State;
use verity::media::seek::{self, PlayerInfo, SeekTarget};
use verity::media::Limits;
use verity::store::Store;
use verity::worker::JobKind;

type Res<T> = Result<T, CommandError>;

/// Shortest and longest recording the live dialog accepts, in seconds.
pub const LIVE_SECONDS: (f64, f64) = (1.0, 600.0);

/// A frame for the player.
#[derive(Debug, Clone, Serialize)]
pub struct PlayerFrame {
    /// `data:image/jpeg;base64,…`
    pub url: String,
    pub index: u64,
    pub time_s: f64,
    /// The target lay past the end: this is the last frame.
    pub clamped: bool,
    /// Size of the JPEG (after downscaling).
    pub width: u32,
    pub height: u32,
}

/// The stored media of a case, the name the analyst imported it under (what errors about the
/// stored copy say instead of its store path) and the rate its frame folder plays at.
fn source_of_case(
    store: &Store,
    case_id: i64,
    default_fps: f64,
) -> verity::Result<(PathBuf, String, f64)> {
    let media = store.media_of_case(case_id)?;
    let path = store.blobs.path(&media.blob);
    // A folder's frames were analysed at `index / fps`: read that rate back from the stored
    // frames so the player's times match the timeline's.
    let fps = store
        .case_detail(case_id)
        .ok()
        .and_then(|d| {
            d.frames
                .iter()
                .filter(|f| f.pts_s > 0.0 && f.source_index > 0)
                .map(|f| f.source_index as f64 / f.pts_s)
                .next()
        })
        .filter(|f| f.is_finite() && *f > 0.0)
        .unwrap_or(default_fps);
    Ok((path, media.original_name, fps))
}

/// Duration, frame rate and frame count of a case's video or frame folder.
pub fn info_of_case(store: &Store, case_id: i64, default_fps: f64) -> verity::Result<PlayerInfo> {
    let (path, name, fps) = source_of_case(store, case_id, default_fps)?;
    seek::player_info(&path, fps, &Limits::default()).map_err(|e| e.naming_original(&path, &name))
}

/// The frame of a case at `target`, as a JPEG no wider than `max_width`.
pub fn frame_of_case(
    store: &Store,
    case_id: i64,
    target: SeekTarget,
    max_width: u32,
    default_fps: f64,
) -> verity::Result<PlayerFrame> {
    let (path, name, fps) = source_of_case(store, case_id, default_fps)?;
    let frame = seek::frame_at(&path, target, fps, &Limits::default())
        .map_err(|e| e.naming_original(&path, &name))?;
    let mut image = frame.image;
    let max_width = max_width.clamp(16, 8192);
    if image.width() > max_width {
        let height = ((u64::from(image.height()) * u64::from(max_width)) / u64::from(image.width()))
            .max(1) as u32;
        image = image::imageops::resize(
            &image,
            max_width,
            height,
            image::imageops::FilterType::Triangle,
        );
    }
    let mut jpeg = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut jpeg, 88)
        .encode_image(&image)
        .map_err(|e| verity::Error::Other(format!("cannot encode the frame as JPEG: {e}")))?;
    Ok(PlayerFrame {
        url: verity::report::data_url_bytes("image/jpeg", &jpeg),
        index: frame.index,
        time_s: frame.time_s,
        clamped: frame.clamped,
        width: image.width(),
        height: image.height(),
    })
}

fn blocking_error(e: tauri::Error) -> CommandError {
    CommandError {
        code: "other",
        message: format!("the frame decoder stopped unexpectedly: {e}"),
    }
}

/// Runs `f` with a store of its own on a blocking thread: decoding must not hold the shared
/// store lock or an async worker thread.
async fn with_own_store<T: Send + 'static>(
    state: &AppState,
    f: impl FnOnce(&Store, f64) -> verity::Result<T> + Send + 'static,
) -> Res<T> {
    let settings = state.settings();
    let (data, fps) = (settings.data_dir(), f64::from(settings.fps));
    tauri::async_runtime::spawn_blocking(move || {
        let store = Store::open(&data)?;
        f(&store, fps)
    })
    .await
    .map_err(blocking_error)?
    .map_err(CommandError::from)
}

/// What the player's scrubber spans.
#[tauri::command]
pub async fn media_info(state: State<'_, AppState>, case_id: i64) -> Res<PlayerInfo> {
    with_own_store(&state, move |s, fps| info_of_case(s, case_id, fps)).await
}

/// One frame of a case's video or frame folder: at `t_seconds`, else the `index`-th.
#[tauri::command]
pub async fn media_frame(
    state: State<'_, AppState>,
    case_id: i64,
    t_seconds: Option<f64>,
    index: Option<u64>,
    max_width: Option<u32>,
) -> Res<PlayerFrame> {
    let target = match (t_seconds, index) {
        (Some(t), _) => SeekTarget::Time(t),
        (None, Some(i)) => SeekTarget::Index(i),
        (None, None) => SeekTarget::Index(0),
    };
    let max_width = max_width.unwrap_or(960);
    with_own_store(&state, move |s, fps| {
        frame_of_case(s, case_id, target, max_width, fps)
    })
    .await
}

/// The webcams present (`/dev/video*`), in natural order.
#[tauri::command]
pub async fn live_devices() -> Vec<String> {
    video_devices(Path::new("/dev"))
}

pub fn video_devices(dev: &Path) -> Vec<String> {
    let mut found: Vec<String> = std::fs::read_dir(dev)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok())
                .map(|e| e.path())
                .filter(|p| {
                    p.file_name()
                        .and_then(|n| n.to_str())
                        .and_then(|n| n.strip_prefix("video"))
                        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
                })
                .map(|p| p.display().to_string())
                .collect()
        })
        .unwrap_or_default();
    found.sort_by(|a, b| verity::media::folder::natural_cmp(a, b));
    found
}

/// Checks a live source and a recording length as the dialog sends them.
pub fn live_job(source: &str, seconds: f64) -> Result<JobKind, CommandError> {
    let source = source.trim();
    let invalid = |message: String| CommandError {
        code: "input",
        message,
    };
    if source.is_empty() {
        return Err(invalid(
            "Enter a stream URL (rtsp://, udp:// …) or pick a webcam.".into(),
        ));
    }
    if source.chars().any(char::is_control) {
        // FFmpeg takes C strings: a NUL byte would panic deep in ffmpeg-next.
        return Err(invalid(format!(
            "{} contains control characters (e.g. a NUL byte); type the URL again",
            source.escape_debug()
        )));
    }
    if !verity::media::is_live(Path::new(source)) {
        return Err(invalid(format!(
            "{source} is not a live source: use an rtsp://, rtmp://, udp://, rtp:// or srt:// URL or a /dev/video* webcam"
        )));
    }
    let (lo, hi) = LIVE_SECONDS;
    if !(seconds.is_finite() && (lo..=hi).contains(&seconds)) {
        return Err(invalid(format!(
            "Record between {lo} and {hi} seconds, not {seconds}."
        )));
    }
    Ok(JobKind::Live {
        source: source.to_string(),
        seconds,
    })
}

/// Queues a recording of `seconds` of `source`, analysed like an import; the job id back.
#[tauri::command]
pub async fn start_live(state: State<'_, AppState>, source: String, seconds: f64) -> Res<u64> {
    Ok(state.worker.enqueue(live_job(&source, seconds)?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use verity::store::NewMedia;

    #[test]
    fn live_job_checks_source_and_length() {
        assert!(matches!(
            live_job(" rtsp://cam.local/stream ", 10.0),
            Ok(JobKind::Live { ref source, seconds }) if source == "rtsp://cam.local/stream" && seconds == 10.0
        ));
        assert!(live_job("/dev/video0", 1.0).is_ok());
        for (source, seconds, says) in [
            ("", 10.0, "Enter a stream URL"),
            ("/home/ada/clip.mp4", 10.0, "is not a live source"),
            ("http://example.org/x", 10.0, "is not a live source"),
            ("udp://0.0.0.0:5000", 0.5, "between 1 and 600"),
            ("udp://0.0.0.0:5000", 601.0, "between 1 and 600"),
            ("udp://0.0.0.0:5000", f64::NAN, "between 1 and 600"),
            ("rtsp://cam.local/a\0b", 10.0, "control characters"),
        ] {
            let e = live_job(source, seconds).unwrap_err();
            assert_eq!(e.code, "input");
            assert!(
                e.message.contains(says),
                "{source} {seconds}: {}",
                e.message
            );
        }
    }

    #[test]
    fn video_devices_lists_only_video_nodes_in_order() {
        let dir = std::env::temp_dir().join(format!("vd-devs-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        for n in ["video10", "video2", "video0", "videox", "vcs", "video"] {
            std::fs::write(dir.join(n), "").unwrap();
        }
        let d = dir.display();
        assert_eq!(
            video_devices(&dir),
            vec![
                format!("{d}/video0"),
                format!("{d}/video2"),
                format!("{d}/video10")
            ]
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// A case whose media is a 320×240, 10 fps, 2 s MJPEG AVI made by the FFmpeg CLI.
    #[test]
    fn frame_of_case_decodes_any_frame_downscaled_as_jpeg() {
        let dir = std::env::temp_dir().join(format!("vd-player-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let video = dir.join("clip.avi");
        let ok = std::process::Command::new("ffmpeg")
            .args([
                "-hide_banner",
                "-loglevel",
                "error",
                "-y",
                "-f",
                "lavfi",
                "-i",
            ])
            .arg("testsrc=s=320x240:r=10:d=2")
            .args(["-c:v", "mjpeg"])
            .arg(&video)
            .status()
            .expect("the FFmpeg CLI is needed for this test");
        assert!(ok.success());
        let mut store = Store::open(&dir.join("data")).unwrap();
        let nm = NewMedia {
            original_path: video.clone(),
            kind: "video".into(),
            size_bytes: std::fs::metadata(&video).unwrap().len(),
            width: Some(320),
            height: Some(240),
            duration_s: Some(2.0),
            fps: Some(10.0),
            codec: None,
            container: None,
        };
        let case = store.import(&nm, "t").unwrap().case_id;
        let info = info_of_case(&store, case, 5.0).unwrap();
        assert_eq!((info.frame_count, info.width, info.height), (20, 320, 240));
        let f = frame_of_case(&store, case, SeekTarget::Time(1.25), 160, 5.0).unwrap();
        // 1.25 s at 10 fps: the first frame at or after it is frame 13 (1.3 s).
        assert_eq!(
            (f.index, f.clamped, f.width, f.height),
            (13, false, 160, 120)
        );
        assert!(
            f.url.starts_with("data:image/jpeg;base64,/9j/"),
            "{}",
            &f.url[..40]
        );
        let last = frame_of_case(&store, case, SeekTarget::Index(500), 960, 5.0).unwrap();
        assert_eq!((last.index, last.clamped, last.width), (19, true, 320));
        let e = frame_of_case(&store, 9999, SeekTarget::Index(0), 960, 5.0).unwrap_err();
        assert!(!e.to_string().is_empty());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
