//! The commands the UI may invoke. Each is a thin call into the `verity` core; none holds logic
//! of its own. Errors cross to the UI as `{ code, message }` so the UI can branch on `code`
//! and show `message` as written for the analyst.
use serde::Serialize;

/// What the top bar shows: the core's version and the compute device it will run on.
#[derive(Debug, Clone, Serialize)]
pub struct AppInfo {
    pub version: String,
    pub device: verity::device::DeviceInfo,
}

/// The error every command returns, serialised as `{ "code": "...", "message": "..." }`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CommandError {
    /// A stable machine-readable kind (`input`, `unsupported`, `weights`, …).
    pub code: &'static str,
    /// The core's message, already written for the analyst.
    pub message: String,
}

impl From<verity::Error> for CommandError {
    fn from(e: verity::Error) -> Self {
        use verity::Error as E;
        let code = match &e {
            E::Input { .. } => "input",
            E::Unsupported(_) => "unsupported",
            E::TooLarge(_) => "too_large",
            E::Weights(_) => "weights",
            E::Model(_) => "model",
            E::Db(_) => "db",
            E::Config(_) => "config",
            E::Cancelled => "cancelled",
            E::Torch(_) => "torch",
            E::Io(_) => "io",
            E::Other(_) => "other",
        };
        CommandError {
            code,
            message: e.to_string(),
        }
    }
}

/// Version and compute device. Async so libtorch's start-up and the `nvidia-smi` query run off
/// the UI thread.
#[tauri::command]
pub async fn app_info() -> AppInfo {
    AppInfo {
        version: verity::version().to_string(),
        device: verity::device::describe(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn command_error_serialises_as_code_and_message() {
        let e = CommandError::from(verity::Error::input("/cases/clip.mp4", "file not found"));
        assert_eq!(
            serde_json::to_value(&e).unwrap(),
            json!({ "code": "input", "message": "/cases/clip.mp4: file not found" })
        );
    }

    #[test]
    fn every_core_error_kind_gets_its_own_code() {
        let cases = [
            (verity::Error::Unsupported("a.xyz".into()), "unsupported"),
            (verity::Error::TooLarge("8K video".into()), "too_large"),
            (
                verity::Error::Weights("missing clip.safetensors".into()),
                "weights",
            ),
            (verity::Error::Config("bad fps".into()), "config"),
            (verity::Error::Cancelled, "cancelled"),
            (verity::Error::Io(std::io::Error::other("disk full")), "io"),
            (verity::Error::Other("x".into()), "other"),
        ];
        for (err, code) in cases {
            let msg = err.to_string();
            let v = serde_json::to_value(CommandError::from(err)).unwrap();
            assert_eq!(v["code"], code);
            assert_eq!(v["message"], msg.as_str());
            assert_eq!(
                v.as_object().unwrap().len(),
                2,
                "only code and message cross to the UI"
            );
        }
    }

    #[test]
    fn app_info_reports_core_version_and_a_device() {
        let info = tauri::async_runtime::block_on(app_info());
        assert_eq!(info.version, verity::version());
        let v = serde_json::to_value(&info).unwrap();
        assert_eq!(v["version"], verity::version());
        let kind = v["device"]["kind"].as_str().unwrap();
        assert!(
            kind == "cpu" || kind == "cuda",
            "unexpected device kind {kind}"
        );
        assert!(!v["device"]["name"].as_str().unwrap().is_empty());
    }
}
