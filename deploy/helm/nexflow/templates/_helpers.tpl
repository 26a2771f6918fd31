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

{{/* The executors' gRPC targets, as a JSON list for NEXFLOW_EXECUTORS. */}}
{{- define "nexflow.executorTargets" -}}
{{- $svc := include "nexflow.executorService" . -}}
{{- $targets := list -}}
{{- range $i := until (int .Values.executor.replicas) -}}
{{- $targets = append $targets (printf "%s-%d.%s.%s.svc:%d" $svc $i $svc $.Release.Namespace (int $.Values.executor.port)) -}}
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
- name: NEXFLOW_EXECUTOR_TLS__CA_FILE
  value: {{ include "nexflow.tlsDir" . }}/ca.crt
- name: NEXFLOW_EXECUTOR_TLS__CERT_FILE
  value: {{ include "nexflow.tlsDir" . }}/tls.crt
- name: NEXFLOW_EXECUTOR_TLS__KEY_FILE
  value: {{ include "nexflow.tlsDir" . }}/tls.key
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
- name: NEXFLOW_EXECUTOR_LISTEN
  value: {{ printf "0.0.0.0:%d" (int .Values.executor.port) | quote }}
- name: NEXFLOW_EXECUTOR_MAX_CALLS
  value: {{ .Values.executor.maxCalls | quote }}
- name: NEXFLOW_EXECUTOR_VOLUMES
  value: '{"workspace": "/var/lib/nexflow/workspace"}'
- name: NEXFLOW_EXECUTOR_TLS__CERT_FILE
  value: {{ include "nexflow.tlsDir" . }}/tls.crt
- name: NEXFLOW_EXECUTOR_TLS__KEY_FILE
  value: {{ include "nexflow.tlsDir" . }}/tls.key
- name: NEXFLOW_EXECUTOR_TLS__CLIENT_CA_FILE
  value: {{ include "nexflow.tlsDir" . }}/ca.crt
- name: NEXFLOW_EXECUTOR_TLS__CLIENT_IDENTITY
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
