{{/* Names, labels, and every environment variable name the chart sets (one place). */}}

{{- define "nexflow.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 40 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "nexflow.labels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{/* Selector labels of one component: (dict "root" $ "component" "executor") */}}
{{- define "nexflow.selector" -}}
app.kubernetes.io/name: {{ .root.Chart.Name }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "nexflow.image" -}}
{{- printf "%snexflow/%s:%s" .root.Values.images.registry .name .root.Values.images.tag -}}
{{- end -}}

{{- define "nexflow.executorService" -}}
{{- printf "%s-executor" (include "nexflow.fullname" .) -}}
{{- end -}}

{{/* The executors for NEXFLOW_EXECUTORS: a JSON list of {target, name, tls}, one per
     StatefulSet pod at its headless-Service DNS name, each over mutual TLS with the
     control plane's certificate (the server name defaults to the target's host, which
     the executor certificate's wildcard covers). */}}
{{- define "nexflow.executorTargets" -}}
{{- $svc := include "nexflow.executorService" . -}}
{{- $dir := include "nexflow.tlsDir" . -}}
{{- $tls := dict "ca_file" (printf "%s/ca.crt" $dir) "cert_file" (printf "%s/tls.crt" $dir) "key_file" (printf "%s/tls.key" $dir) -}}
{{- $targets := list -}}
{{- range $i := until (int .Values.executor.replicas) -}}
{{- $pod := printf "%s-%d" $svc $i -}}
{{- $targets = append $targets (dict "target" (printf "%s.%s.%s.svc:%d" $pod $svc $.Release.Namespace (int $.Values.executor.port)) "name" $pod "tls" $tls) -}}
{{- end -}}
{{- toJson $targets -}}
{{- end -}}

{{- define "nexflow.tlsSecret" -}}
{{- $own := printf "%s-%s-tls" (include "nexflow.fullname" .root) .component -}}
{{- if eq .component "control-plane" -}}{{ .root.Values.tls.controlPlaneSecret | default $own }}
{{- else -}}{{ .root.Values.tls.executorSecret | default $own }}{{- end -}}
{{- end -}}

{{- define "nexflow.databaseSecret" -}}
{{- if .Values.postgresql.enabled -}}{{ printf "%s-database" (include "nexflow.fullname" .) }}
{{- else -}}{{ required "database.existingSecret is required when postgresql.enabled is false" .Values.database.existingSecret }}{{- end -}}
{{- end -}}

{{- define "nexflow.adminTokenSecret" -}}
{{- .Values.adminTokenSecret | default (printf "%s-admin-token" (include "nexflow.fullname" .)) -}}
{{- end -}}

{{/* Where the TLS files are mounted in both components. */}}
{{- define "nexflow.tlsDir" -}}/etc/nexflow/tls{{- end -}}

{{/* Where the `workspace` volume is mounted, the same path in the control plane and in
     every executor, and the claim it is. */}}
{{- define "nexflow.workspaceDir" -}}/var/lib/nexflow/workspace{{- end -}}
{{- define "nexflow.workspaceClaim" -}}
{{- .Values.workspace.existingClaim | default (printf "%s-workspace" (include "nexflow.fullname" .)) -}}
{{- end -}}

{{- define "nexflow.controlPlane.env" -}}
- name: NEXFLOW_ENV
  value: production
- name: NEXFLOW_HOST
  value: 0.0.0.0
- name: NEXFLOW_PORT
  value: {{ .Values.controlPlane.port | quote }}
- name: NEXFLOW_DATABASE_URL
  valueFrom:
    secretKeyRef: {name: {{ include "nexflow.databaseSecret" . }}, key: url}
- name: NEXFLOW_ADMIN_TOKEN
  valueFrom:
    secretKeyRef: {name: {{ include "nexflow.adminTokenSecret" . }}, key: token}
{{- if .Values.opa.enabled }}
- name: NEXFLOW_POLICY__OPA_URL
  value: {{ printf "http://%s-opa:%d" (include "nexflow.fullname" .) (int .Values.opa.port) | quote }}
{{- end }}
{{- if .Values.policies.files }}
- name: NEXFLOW_POLICY_DIR
  value: /etc/nexflow/policies
{{- end }}
- name: NEXFLOW_CHECKPOINTS__ENABLED
  value: {{ .Values.controlPlane.checkpoints | quote }}
- name: NEXFLOW_EXECUTORS
  value: {{ include "nexflow.executorTargets" . | quote }}
- name: NEXFLOW_EXECUTOR_QUEUE_S
  value: {{ .Values.controlPlane.executorQueueS | quote }}
- name: NEXFLOW_WORKSPACE
  value: {{ include "nexflow.workspaceDir" . }}
{{- range $name, $value := .Values.controlPlane.extraEnv }}
- name: {{ $name }}
  value: {{ $value | quote }}
{{- end }}
{{- end -}}

{{- define "nexflow.executor.env" -}}
- name: NEXFLOW_EXECUTOR_ID
  valueFrom:
    fieldRef: {fieldPath: metadata.name}
- name: NEXFLOW_EXECUTOR_BACKEND
  value: nsjail
- name: NEXFLOW_EXECUTOR_MAX_CALLS
  value: {{ .Values.executor.maxCalls | quote }}
- name: NEXFLOW_EXECUTOR_DRAIN_GRACE_S
  value: {{ .Values.executor.drainGraceS | quote }}
- name: NEXFLOW_EXECUTOR_VOLUMES
  value: {{ dict "workspace" (include "nexflow.workspaceDir" .) | toJson | quote }}
- name: NEXFLOW_EXECUTOR_TCP__ADDRESS
  value: {{ printf "0.0.0.0:%d" (int .Values.executor.port) | quote }}
- name: NEXFLOW_EXECUTOR_TCP__CERT_FILE
  value: {{ include "nexflow.tlsDir" . }}/tls.crt
- name: NEXFLOW_EXECUTOR_TCP__KEY_FILE
  value: {{ include "nexflow.tlsDir" . }}/tls.key
- name: NEXFLOW_EXECUTOR_TCP__CLIENT_CA_FILE
  value: {{ include "nexflow.tlsDir" . }}/ca.crt
- name: NEXFLOW_EXECUTOR_TCP__CLIENT_NAME
  value: {{ .Values.tls.clientIdentity | quote }}
{{- end -}}

{{/* Pod-level hardening shared by the unprivileged components. */}}
{{- define "nexflow.restrictedContainer" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
runAsNonRoot: true
capabilities: {drop: [ALL]}
seccompProfile: {type: RuntimeDefault}
{{- end -}}
