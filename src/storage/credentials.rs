//! Which credentials sign requests. Never a metadata service: a credentials file (from the
//! `credential` Secret, `credentialsFile` or the CLI) goes through the SDK's profile provider
//! with instance-metadata and container sources refused; otherwise only the environment and
//! web-identity tokens (IRSA) are consulted.

use aws_config::environment::EnvironmentVariableCredentialsProvider;
use aws_config::meta::credentials::CredentialsProviderChain;
use aws_config::profile::ProfileFileCredentialsProvider;
use aws_config::provider_config::ProviderConfig;
use aws_config::web_identity_token::WebIdentityTokenCredentialsProvider;
use aws_credential_types::provider::error::CredentialsError;
use aws_credential_types::provider::{ProvideCredentials, future};
use aws_runtime::env_config::file::{EnvConfigFileKind, EnvConfigFiles};
use aws_sdk_s3::config::{Region, SharedCredentialsProvider, SharedHttpClient};

use super::secrets::SecretMaterial;
use crate::location::LocationConfig;

/// A credential source that always refuses, standing in for the metadata-service providers a
/// profile could otherwise name (`credential_source = Ec2InstanceMetadata`).
#[derive(Debug)]
struct Refused(&'static str);

impl ProvideCredentials for Refused {
    fn provide_credentials<'a>(&'a self) -> future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        future::ProvideCredentials::ready(Err(CredentialsError::not_loaded(format!(
            "{} credentials are not used by veloxide (no metadata-service lookups); put keys in \
             the credential Secret instead",
            self.0
        ))))
    }
}

/// The credentials provider for a location.
pub fn provider(
    config: &LocationConfig,
    secrets: &SecretMaterial,
    http: SharedHttpClient,
) -> SharedCredentialsProvider {
    let provider_config = ProviderConfig::empty()
        .with_http_client(http)
        .with_region(Some(Region::new(config.endpoint.region().to_owned())))
        .with_sleep_impl(aws_smithy_async::rt::sleep::TokioSleep::new());
    if let Some(file) = &secrets.credentials_file {
        let files = EnvConfigFiles::builder()
            .with_contents(EnvConfigFileKind::Credentials, file.0.clone())
            .build();
        let mut builder = ProfileFileCredentialsProvider::builder()
            .configure(&provider_config)
            .profile_files(files)
            .with_custom_provider("Ec2InstanceMetadata", Refused("Instance-metadata"))
            .with_custom_provider("EcsContainer", Refused("Container-metadata"));
        // Velero reads the "default" profile when none is named; so does the SDK.
        if let Some(profile) = &config.credentials.profile {
            builder = builder.profile_name(profile);
        }
        return SharedCredentialsProvider::new(builder.build());
    }
    let chain = CredentialsProviderChain::first_try(
        "Environment",
        EnvironmentVariableCredentialsProvider::new(),
    )
    .or_else(
        "WebIdentityToken",
        WebIdentityTokenCredentialsProvider::builder()
            .configure(&provider_config)
            .build(),
    );
    SharedCredentialsProvider::new(chain)
}
