"""Private S3 buckets: the origin (encoded video) and the manifests appliances fetch."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

_INCOMPLETE_UPLOAD_DAYS = 7
_NONCURRENT_VERSION_DAYS = 30


def tls_only_policy(bucket_arn: str) -> str:
    """A bucket policy that refuses every request not made over TLS."""
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "DenyInsecureTransport",
                    "Effect": "Deny",
                    "Principal": "*",
                    "Action": "s3:*",
                    "Resource": [bucket_arn, f"{bucket_arn}/*"],
                    "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                }
            ],
        }
    )


@dataclass(frozen=True)
class PrivateBucketArgs:
    bucket_name: pulumi.Input[str]
    kms_key_arn: pulumi.Input[str]
    protect_data: bool
    tags: dict[str, str]


class PrivateBucket(pulumi.ComponentResource):
    """A bucket that is versioned, KMS-encrypted, never public, TLS-only, and cleans up uploads."""

    bucket: aws.s3.Bucket

    def __init__(
        self, name: str, args: PrivateBucketArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("edgefill:index:PrivateBucket", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.bucket = aws.s3.Bucket(
            name,
            aws.s3.BucketArgs(
                bucket=args.bucket_name,
                # Unprotected, `pulumi destroy` empties the bucket (every version) first.
                force_destroy=not args.protect_data,
                tags=args.tags,
            ),
            child,
        )
        aws.s3.BucketVersioning(
            f"{name}-versioning",
            aws.s3.BucketVersioningInitArgs(
                bucket=self.bucket.id,
                versioning_configuration=aws.s3.BucketVersioningVersioningConfigurationArgs(
                    status="Enabled"
                ),
            ),
            child,
        )
        aws.s3.BucketServerSideEncryptionConfiguration(
            f"{name}-encryption",
            aws.s3.BucketServerSideEncryptionConfigurationInitArgs(
                bucket=self.bucket.id,
                rules=[
                    aws.s3.BucketServerSideEncryptionConfigurationRuleArgs(
                        apply_server_side_encryption_by_default=aws.s3.BucketServerSideEncryptionConfigurationRuleApplyServerSideEncryptionByDefaultArgs(
                            sse_algorithm="aws:kms", kms_master_key_id=args.kms_key_arn
                        ),
                        bucket_key_enabled=True,
                    )
                ],
            ),
            child,
        )
        public_block = aws.s3.BucketPublicAccessBlock(
            f"{name}-public-access-block",
            aws.s3.BucketPublicAccessBlockArgs(
                bucket=self.bucket.id,
                block_public_acls=True,
                block_public_policy=True,
                ignore_public_acls=True,
                restrict_public_buckets=True,
            ),
            child,
        )
        aws.s3.BucketPolicy(
            f"{name}-tls-only",
            aws.s3.BucketPolicyArgs(
                bucket=self.bucket.id, policy=self.bucket.arn.apply(tls_only_policy)
            ),
            pulumi.ResourceOptions(parent=self, depends_on=[public_block]),
        )
        aws.s3.BucketLifecycleConfiguration(
            f"{name}-lifecycle",
            aws.s3.BucketLifecycleConfigurationArgs(
                bucket=self.bucket.id,
                rules=[
                    aws.s3.BucketLifecycleConfigurationRuleArgs(
                        id="abort-incomplete-multipart-uploads",
                        status="Enabled",
                        filter=aws.s3.BucketLifecycleConfigurationRuleFilterArgs(prefix=""),
                        abort_incomplete_multipart_upload=aws.s3.BucketLifecycleConfigurationRuleAbortIncompleteMultipartUploadArgs(
                            days_after_initiation=_INCOMPLETE_UPLOAD_DAYS
                        ),
                        noncurrent_version_expiration=aws.s3.BucketLifecycleConfigurationRuleNoncurrentVersionExpirationArgs(
                            noncurrent_days=_NONCURRENT_VERSION_DAYS
                        ),
                    )
                ],
            ),
            child,
        )
        self.register_outputs({"bucket_name": self.bucket.bucket, "bucket_arn": self.bucket.arn})


@dataclass(frozen=True)
class OriginStorageArgs:
    name_prefix: str
    account_id: pulumi.Input[str]
    region: str
    kms_key_arn: pulumi.Input[str]
    protect_data: bool
    tags: dict[str, str]


class OriginStorage(pulumi.ComponentResource):
    """The origin bucket (encoded video, read by playback and fills) and the manifest bucket."""

    origin: PrivateBucket
    manifests: PrivateBucket

    def __init__(
        self, name: str, args: OriginStorageArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("edgefill:index:OriginStorage", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        suffix = pulumi.Output.from_input(args.account_id).apply(
            lambda account: f"{account}-{args.region}"
        )
        self.origin = PrivateBucket(
            f"{name}-origin",
            PrivateBucketArgs(
                bucket_name=pulumi.Output.concat(args.name_prefix, "-origin-", suffix),
                kms_key_arn=args.kms_key_arn,
                protect_data=args.protect_data,
                tags=args.tags,
            ),
            child,
        )
        self.manifests = PrivateBucket(
            f"{name}-manifests",
            PrivateBucketArgs(
                bucket_name=pulumi.Output.concat(args.name_prefix, "-manifests-", suffix),
                kms_key_arn=args.kms_key_arn,
                protect_data=args.protect_data,
                tags=args.tags,
            ),
            child,
        )
        self.register_outputs(
            {
                "origin_bucket": self.origin.bucket.bucket,
                "manifest_bucket": self.manifests.bucket.bucket,
            }
        )
