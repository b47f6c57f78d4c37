// Imported first by both commands: the AWS SDK's Node-20 support notice (8 lines on stderr at the first client) would
// land in every MCP client's log and in the approver's terminal on each command. The README says which Node to run;
// a user who wants the notice sets AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED=false.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
