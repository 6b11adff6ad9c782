//! Loaded mappings behind the plugin-api traits, so the engine cannot tell them from
//! statically linked ones.

use abi_stable::sabi_trait::TD_Opaque;
use abi_stable::std_types::ROption;
use fieldsync_plugin_api::abi::wire::{IncomingCallRef, OutgoingCallRef};
use fieldsync_plugin_api::abi::{FfiIncomingBox, FfiIssueView_TO, FfiOutgoingBox};
use fieldsync_plugin_api::{
    FieldUpdate, IncomingContext, IncomingFieldMapping, MappingError, OutgoingContext,
    OutgoingFieldMapping,
};
use serde_json::Value;

use crate::documents;
use crate::host::IssueView;

/// An outgoing mapping living in a plugin library.
pub(crate) struct LoadedOutgoing {
    inner: FfiOutgoingBox,
    /// "plugin `x` mapping `y`", put in front of every error.
    context: String,
}

impl LoadedOutgoing {
    pub(crate) fn new(inner: FfiOutgoingBox, context: String) -> Self {
        LoadedOutgoing { inner, context }
    }
}

impl OutgoingFieldMapping for LoadedOutgoing {
    fn export(&self, ctx: &OutgoingContext<'_>) -> Result<Value, MappingError> {
        let outcome = (|| {
            let call = documents::outgoing_call(&OutgoingCallRef {
                issue: ctx.issue(),
                field: ctx.field_id(),
                value: ctx.value(),
                trigger: ctx.trigger(),
            })?;
            let view = IssueView::new(ctx.fields());
            let reply = self.inner.export(
                call.as_str().into(),
                FfiIssueView_TO::from_ptr(&view, TD_Opaque),
            );
            if let Some(failure) = view.take_failure() {
                return Err(failure);
            }
            documents::outgoing_reply(reply.into_result()?.as_str())
        })();
        outcome.map_err(|error: MappingError| error.context(&self.context))
    }
}

/// An incoming mapping living in a plugin library.
pub(crate) struct LoadedIncoming {
    inner: FfiIncomingBox,
    context: String,
}

impl LoadedIncoming {
    pub(crate) fn new(inner: FfiIncomingBox, context: String) -> Self {
        LoadedIncoming { inner, context }
    }
}

impl IncomingFieldMapping for LoadedIncoming {
    fn import(&self, ctx: &IncomingContext<'_>) -> Result<FieldUpdate, MappingError> {
        let outcome = (|| {
            let call = documents::incoming_call(&IncomingCallRef {
                target: ctx.target(),
                field: ctx.field_id(),
                data: ctx.data(),
            })?;
            let view = ctx.target_fields().map(IssueView::new);
            let target = match &view {
                Some(view) => ROption::RSome(FfiIssueView_TO::from_ptr(view, TD_Opaque)),
                None => ROption::RNone,
            };
            let reply = self.inner.import(call.as_str().into(), target);
            if let Some(failure) = view.as_ref().and_then(IssueView::take_failure) {
                return Err(failure);
            }
            documents::incoming_reply(reply.into_result()?.as_str())
        })();
        outcome.map_err(|error: MappingError| error.context(&self.context))
    }
}
