// Shared by the fixtures `old-abi` and `newer-abi`: a root module of today's shape
// that declares another ABI version, `DECLARED_ABI_VERSION`, defined by the including
// crate before `include!`.

use abi_stable::{
    declare_root_module_statics, export_root_module,
    library::RootModule,
    prefix_type::PrefixTypeTrait,
    sabi_types::VersionStrings,
    std_types::{RResult, RStr, RString},
    StableAbi,
};
use fieldsync_plugin_api::abi::{FfiError, FfiHostBox, FfiIncomingBox, FfiOutgoingBox};

#[repr(C)]
#[derive(StableAbi)]
#[sabi(kind(Prefix(prefix_ref = ForeignVersionModuleRef)))]
#[sabi(missing_field(panic))]
pub struct ForeignVersionModule {
    pub init: extern "C" fn(host: FfiHostBox, host_info: RStr<'_>) -> RResult<RString, FfiError>,
    pub new_outgoing: extern "C" fn(request: RStr<'_>) -> RResult<FfiOutgoingBox, FfiError>,
    #[sabi(last_prefix_field)]
    pub new_incoming: extern "C" fn(request: RStr<'_>) -> RResult<FfiIncomingBox, FfiError>,
}

impl RootModule for ForeignVersionModuleRef {
    declare_root_module_statics! {ForeignVersionModuleRef}
    const BASE_NAME: &'static str = "fieldsync_plugin";
    const NAME: &'static str = "fieldsync-plugin";
    const VERSION_STRINGS: VersionStrings = VersionStrings::new(DECLARED_ABI_VERSION);
}

extern "C" fn init(_host: FfiHostBox, _info: RStr<'_>) -> RResult<RString, FfiError> {
    RResult::ROk(r#"{"id":"foreign.version","name":"Foreign version"}"#.into())
}

extern "C" fn new_outgoing(_request: RStr<'_>) -> RResult<FfiOutgoingBox, FfiError> {
    RResult::RErr(FfiError {
        kind: 4,
        message: "none".into(),
    })
}

extern "C" fn new_incoming(_request: RStr<'_>) -> RResult<FfiIncomingBox, FfiError> {
    RResult::RErr(FfiError {
        kind: 4,
        message: "none".into(),
    })
}

#[export_root_module]
pub fn root_module() -> ForeignVersionModuleRef {
    ForeignVersionModule {
        init,
        new_outgoing,
        new_incoming,
    }
    .leak_into_prefix()
}
