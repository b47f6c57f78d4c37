// Parses the ARNs aws-warden acts on; anything else is refused rather than guessed at.
export interface ParsedArn {
  partition: string;
  service: 'ec2' | 's3';
  region: string;
  account: string;
  /** e.g. instance, security-group, volume, bucket */
  type: string;
  id: string;
}

const EC2 = /^arn:(aws[a-z-]*):ec2:([a-z0-9-]+):(\d{12}):([a-z-]+)\/([a-z]+-[0-9a-f]{8,17})$/;
const S3_BUCKET = /^arn:(aws[a-z-]*):s3:::([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])$/;

export function parseArn(arn: string): ParsedArn | null {
  let m = EC2.exec(arn);
  if (m) return { partition: m[1], service: 'ec2', region: m[2], account: m[3], type: m[4], id: m[5] };
  m = S3_BUCKET.exec(arn);
  if (m) return { partition: m[1], service: 's3', region: '', account: '', type: 'bucket', id: m[2] };
  return null;
}

export function accountOf(assumedRoleArn: string | undefined): string | undefined {
  return assumedRoleArn?.split(':')[4];
}
