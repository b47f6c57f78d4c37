// Every tool aws-warden serves. Adding a tool is its file (src/tools/<name>.ts), one line here and its tier grant in the
// policy; the registry (src/registry) wires it through the guard, and its tests need a sample and a snapshot (README).
import { checkDriftTool } from './check-drift.js';
import { deployStaticSite } from './deploy-static-site.js';
import { findUnusedResources } from './find-unused-resources.js';
import { getBudget } from './get-budget.js';
import { getDatabase } from './get-database.js';
import { getDatabaseCredentials } from './get-database-credentials.js';
import { getJob } from './get-job.js';
import { getProposal } from './get-proposal.js';
import { getService } from './get-service.js';
import { getSiteStatus } from './get-site-status.js';
import { getStatus } from './get-status.js';
import { listResources } from './list-resources.js';
import { promoteSite } from './promote-site.js';
import { reclaimResources } from './reclaim-resources.js';
import { proposeNetworkAclChange } from './propose-network-acl-change.js';
import { proposeSecurityChange } from './propose-security-change.js';
import { repairDrift } from './repair-drift.js';
import { requestBudget } from './request-budget.js';
import { requestPermission } from './request-permission.js';
import { scaleDatabase } from './scale-database.js';
import { scaleService } from './scale-service.js';
import { snapshotDatabase } from './snapshot-database.js';
import { tagResource } from './tag-resource.js';
import type { ToolSpec } from './tool.js';
import { verifyBackups } from './verify-backups.js';

export const allTools: readonly ToolSpec[] = [
  getStatus,
  listResources,
  tagResource,
  getBudget,
  requestBudget,
  requestPermission,
  getService,
  scaleService,
  getDatabase,
  scaleDatabase,
  snapshotDatabase,
  getDatabaseCredentials,
  getProposal,
  proposeSecurityChange,
  proposeNetworkAclChange,
  deployStaticSite,
  getSiteStatus,
  promoteSite,
  findUnusedResources,
  reclaimResources,
  checkDriftTool,
  repairDrift,
  verifyBackups,
  getJob,
];

export const toolNames: readonly string[] = allTools.map((t) => t.name);
