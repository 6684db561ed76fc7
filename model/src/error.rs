//! Typed errors of the model crate: model files, data files, forward pass and trainer.

use std::path::{Path, PathBuf};

/// A rule a network description breaks: where (layer index and name, field) and which rule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{location}: field `{field}`: {rule}")]
pub struct Violation {
    /// `network` for network-level fields, `layer 3 (\"fc1\")` for a layer.
    pub location: String,
    /// The field at fault, e.g. `weights.values[17]`.
    pub field: String,
    /// The rule broken, with the offending value.
    pub rule: String,
}

impl Violation {
    /// A violation of a network-level field.
    pub fn network(field: impl Into<String>, rule: impl Into<String>) -> Self {
        Violation {
            location: "network".into(),
            field: field.into(),
            rule: rule.into(),
        }
    }

    /// A violation inside layer `index` (named `name`).
    pub fn layer(
        index: usize,
        name: &str,
        field: impl Into<String>,
        rule: impl Into<String>,
    ) -> Self {
        Violation {
            location: format!("layer {index} ({name:?})"),
            field: field.into(),
            rule: rule.into(),
        }
    }
}

/// Errors loading, validating or saving a model file.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// The file could not be read or written.
    #[error("{path}: {cause}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error (shown in the message, not chained, so it prints once).
        cause: std::io::Error,
    },
    /// The JSON text is not a network description (syntax or schema).
    #[error("{path}: line {line}, column {column}: {message}")]
    Json {
        /// The file.
        path: PathBuf,
        /// 1-based line of the error.
        line: usize,
        /// 1-based column of the error.
        column: usize,
        /// What serde_json found wrong.
        message: String,
    },
    /// The binary (bincode) payload is malformed.
    #[error("{path}: malformed binary model: {message}")]
    Binary {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// The file declares a format version this build does not read.
    #[error(
        "{path}: format version {found} is not supported (this build reads version {supported})"
    )]
    Version {
        /// The file.
        path: PathBuf,
        /// The version in the file.
        found: u32,
        /// The version this build reads and writes.
        supported: u32,
    },
    /// The description parses but breaks a shape or range rule.
    #[error("{path}: {violation}")]
    Invalid {
        /// The file (or `<memory>`).
        path: PathBuf,
        /// The rule broken.
        violation: Violation,
    },
    /// Encoding to bincode failed (should not happen for a valid network).
    #[error("{path}: cannot encode: {message}")]
    Encode {
        /// The destination file.
        path: PathBuf,
        /// The encoder's message.
        message: String,
    },
}

/// Errors reading a data set.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    /// The file could not be read.
    #[error("{path}: {cause}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error (shown in the message, not chained, so it prints once).
        cause: std::io::Error,
    },
    /// The file content breaks the format.
    #[error("{path}: {problem}")]
    Format {
        /// The file (for embedded data, a descriptive pseudo-path).
        path: PathBuf,
        /// What is wrong: bad magic, truncated, count mismatch, value out of range...
        problem: String,
    },
    /// A dataset specification string (`digits`, `mnist:DIR`, `fashion:DIR`) is not understood.
    #[error("dataset `{spec}`: {problem}")]
    Spec {
        /// The specification given.
        spec: String,
        /// What is wrong with it.
        problem: String,
    },
}

/// Errors of the forward pass or the trainer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RunError {
    /// The network is not valid.
    #[error("invalid network: {0}")]
    Invalid(#[from] Violation),
    /// The input does not match the network's input size.
    #[error("input has {found} values, the network expects {expected}")]
    InputSize {
        /// Expected number of inputs.
        expected: usize,
        /// Number given.
        found: usize,
    },
    /// A label is outside the output layer.
    #[error("sample {sample}: label {label} is not below the number of outputs {outputs}")]
    Label {
        /// Sample index.
        sample: usize,
        /// Its label.
        label: usize,
        /// Output neurons.
        outputs: usize,
    },
    /// A trainer configuration rule is broken.
    #[error("trainer configuration: {field}: {rule}")]
    Config {
        /// The option at fault.
        field: String,
        /// The rule broken.
        rule: String,
    },
}

/// `bytes` as UTF-8 text for a JSON model file, or a [`ModelError::Json`] at the line of the
/// first invalid byte (`what_else` says what else the bytes could have been, or is empty).
pub(crate) fn json_text<'a>(
    bytes: &'a [u8],
    path: &Path,
    what_else: &str,
) -> Result<&'a str, ModelError> {
    std::str::from_utf8(bytes).map_err(|e| ModelError::Json {
        path: path.to_path_buf(),
        line: 1 + bytes[..e.valid_up_to()]
            .iter()
            .filter(|&&b| b == b'\n')
            .count(),
        column: 1,
        message: format!("not UTF-8 text{what_else}: {e}"),
    })
}

/// A `serde_json` error in the model file `path`, with its line and column.
pub(crate) fn json_error(path: &Path, e: serde_json::Error) -> ModelError {
    ModelError::Json {
        path: path.to_path_buf(),
        line: e.line(),
        column: e.column(),
        message: e.to_string(),
    }
}

/// The bytes of the model file `path`, or [`ModelError::Io`] naming it.
pub(crate) fn read_model_file(path: &Path) -> Result<Vec<u8>, ModelError> {
    std::fs::read(path).map_err(|cause| ModelError::Io {
        path: path.to_path_buf(),
        cause,
    })
}

/// Writes a model file atomically, or [`ModelError::Io`] naming it.
pub(crate) fn write_model_file(path: &Path, bytes: &[u8]) -> Result<(), ModelError> {
    isa::output::write_atomic(path, bytes).map_err(|cause| ModelError::Io {
        path: path.to_path_buf(),
        cause,
    })
}

/// A validation failure of the model file `path` as a [`ModelError::Invalid`].
pub(crate) fn invalid(path: &Path) -> impl Fn(Violation) -> ModelError + '_ {
    move |violation| ModelError::Invalid {
        path: path.to_path_buf(),
        violation,
    }
}
