/**
 * Microsoft sign-in through VS Code's authentication provider, following the conventions of
 * Microsoft's Azure extensions (tenants, the shared subscription filter). A bundle of its own, loaded
 * when the user signs in or was signed in before.
 */
export { VSCodeAzureSubscriptionProvider } from '@microsoft/vscode-azext-azureauth';
