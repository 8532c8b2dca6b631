{{/* Names and labels shared by every template. */}}

{{- define "veloxide.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "veloxide.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "veloxide.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "veloxide.selectorLabels" -}}
app.kubernetes.io/name: {{ include "veloxide.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "veloxide.labels" -}}
helm.sh/chart: {{ include "veloxide.chart" . }}
{{ include "veloxide.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: veloxide
{{- end }}

{{- define "veloxide.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "veloxide.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "veloxide.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/* The Service the API server calls the webhook through; the certificate must name it. */}}
{{- define "veloxide.webhookServiceName" -}}
{{- include "veloxide.fullname" . }}
{{- end }}

{{/* DNS names the webhook's serving certificate carries. */}}
{{- define "veloxide.webhookDNSNames" -}}
{{- $svc := include "veloxide.webhookServiceName" . -}}
{{- $ns := .Release.Namespace -}}
{{- list $svc (printf "%s.%s" $svc $ns) (printf "%s.%s.svc" $svc $ns) (printf "%s.%s.svc.cluster.local" $svc $ns) | toJson }}
{{- end }}

{{/* The Secret holding the webhook's serving certificate (tls.crt, tls.key), whatever its source. */}}
{{- define "veloxide.webhookSecretName" -}}
{{- if eq .Values.webhook.certificate.source "secret" }}
{{- required "webhook.certificate.secret.name is required when webhook.certificate.source is secret" .Values.webhook.certificate.secret.name }}
{{- else }}
{{- printf "%s-webhook-tls" (include "veloxide.fullname" .) }}
{{- end }}
{{- end }}

{{/* The Secret the chart makes for a location's caBundle. */}}
{{- define "veloxide.locationCASecretName" -}}
{{- printf "%s-%s-ca" (include "veloxide.fullname" .root) .location.name | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The node agent's labels: its own app.kubernetes.io/name, so neither the server's
Deployment, Service, PodDisruptionBudget nor anti-affinity selects the agent's pods. */}}
{{- define "veloxide.nodeAgentSelectorLabels" -}}
app.kubernetes.io/name: {{ include "veloxide.name" . }}-node-agent
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "veloxide.nodeAgentLabels" -}}
helm.sh/chart: {{ include "veloxide.chart" . }}
{{ include "veloxide.nodeAgentSelectorLabels" . }}
app.kubernetes.io/component: node-agent
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: veloxide
{{- end }}
