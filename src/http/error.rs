//! The edge's errors are `web::HttpError` (one type, its statuses and its JSON body);
//! here is what only the edge knows: a channel's refusals, as statuses.

pub(crate) use crate::web::HttpError;

use crate::transport::channel::ChannelError;

/// A channel refusal: a bound reached is the server's (503, or 413 for a joined message
/// over the frame limit); anything else is the client's mistake (400).
impl From<ChannelError> for HttpError {
    fn from(e: ChannelError) -> HttpError {
        match e {
            ChannelError::TooManyChannels
            | ChannelError::TooManyFromAddress
            | ChannelError::InboundFull
            | ChannelError::TooManyPending
            | ChannelError::TooManyPendingFromAddress => HttpError::Unavailable(e.to_string()),
            ChannelError::TooBig => HttpError::TooLarge,
            ChannelError::AckBeyondSent(_)
            | ChannelError::PartOutOfRange(..)
            | ChannelError::InconsistentParts
            | ChannelError::TooManyParts(_) => HttpError::BadRequest(e.to_string()),
        }
    }
}
